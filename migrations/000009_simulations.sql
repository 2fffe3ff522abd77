-- Simulations: a draft evaluated against a window of past events, next to the version it
-- would replace, without writing to the ledger. A row per run: its progress while it runs
-- (the job updates it between chunks), and its result when done.
CREATE TABLE simulations (
  program_id text NOT NULL REFERENCES programs (id),
  id text NOT NULL,
  draft_id text NOT NULL,
  document jsonb NOT NULL,
  base_version integer NOT NULL,
  window_from timestamptz NOT NULL,
  window_to timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'cancelled', 'failed')),
  cancel_requested boolean NOT NULL DEFAULT false,
  events_total bigint,
  events_done bigint NOT NULL DEFAULT 0,
  result jsonb,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (program_id, id),
  CHECK (window_from < window_to)
);
-- A simulation reads the earning events of a window in order.
CREATE INDEX events_occurred ON events (program_id, occurred_at, id) WHERE refund_of IS NULL;
