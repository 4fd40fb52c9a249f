-- Storage metering. Each run keeps what it occupies (its state blob plus
-- every history event stored for it) in `stored_bytes`, maintained by every
-- commit that writes the run, and when it closed (`closed_ms`, from its
-- visibility record). A sampler then sums one narrow covering index per
-- namespace instead of reading history_events: the cost of a sample grows
-- with the number of runs, never with the size of their histories.
ALTER TABLE executions ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN closed_ms INTEGER;
UPDATE executions SET
    stored_bytes = length(state) + COALESCE((
        SELECT SUM(length(h.data)) FROM history_events h
        WHERE h.namespace_id = executions.namespace_id AND h.run_id = executions.run_id), 0),
    closed_ms = (
        SELECT v.close_ms FROM visibility v
        WHERE v.namespace_id = executions.namespace_id AND v.run_id = executions.run_id);
CREATE INDEX executions_storage ON executions (namespace_id, closed_ms, stored_bytes);

-- How far each namespace's storage has been billed (ms since the epoch).
-- A sample of the slot [start, end) bills only end - max(start,
-- billed_until_ms), and moves billed_until_ms to end, in the same
-- transaction as the usage it adds: whatever slots a restart, a changed
-- interval or a second cell process samples, each second is billed once.
-- Rows not moved for a day are pruned.
CREATE TABLE storage_billed (
    namespace_id    TEXT    NOT NULL PRIMARY KEY,
    billed_until_ms INTEGER NOT NULL
);
CREATE INDEX storage_billed_by_time ON storage_billed (billed_until_ms);

-- PullUsage pages through usage in (hour, namespace, kind) order.
CREATE INDEX usage_by_hour ON usage (hour_ms, namespace_id, action);
