-- Pending points (a return window, a review): points an event earns may wait in the member's
-- `pending` account, as a lot there, until `pending_until`; then a release moves what is
-- left of the lot to `available`. A refund within the window, or a review, voids them.
ALTER TABLE lots ADD COLUMN pending_until timestamptz;
ALTER TABLE lots ADD CONSTRAINT lots_pending_until CHECK ((account = 'pending') = (pending_until IS NOT NULL));
-- The release pass: pending lots with points left, by when they are due.
CREATE INDEX lots_pending_due ON lots (pending_until) WHERE account = 'pending' AND remaining > 0;
-- A refund finds the pending lot of the purchase it refunds by the purchase's entry.
CREATE INDEX lots_pending_entry ON lots (entry_id) WHERE account = 'pending';
