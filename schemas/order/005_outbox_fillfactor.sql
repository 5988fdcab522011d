-- Room on each outbox page for the relay's claim (claimed_by, claimed_until:
-- no index covers them), so it is a HOT update: no new entry in the outbox's
-- two indexes for every row claimed. (Marking a row sent changes sent_at, the
-- predicate of outbox_unsent, so that update is never HOT.) New pages only;
-- the outbox turns over within its retention.
ALTER TABLE outbox SET (fillfactor = 50);
