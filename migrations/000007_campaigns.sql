-- Campaigns' program-wide counters: points a campaign has given in all (its budget, period
-- 'total') and in each perCampaign cap period ('2026-06-15', '2026-W25', '2026-06'). One row
-- per campaign and period, written in the statement that posts the points, guarded like a
-- member's balance row: a concurrent write that read an older row version is refused and
-- runs again with the row locked, so a budget is never overspent. Per-member campaign caps
-- live in rule_usage as rule `campaign:<id>`.
CREATE TABLE campaign_usage (
  program_id text NOT NULL,
  campaign_id text NOT NULL,
  period text NOT NULL,
  points bigint NOT NULL CHECK (points >= 0),
  PRIMARY KEY (program_id, campaign_id, period)
);
