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

-- One row per namespace and sample slot, inserted only if absent: the
-- byte-seconds of a slot are added to `usage` in the same transaction only
-- by the writer whose insert landed, so a restart or a second cell process
-- on the same database never counts a slot twice. Old slots are pruned.
CREATE TABLE storage_samples (
    namespace_id   TEXT    NOT NULL,
    slot_ms        INTEGER NOT NULL,
    active_bytes   INTEGER NOT NULL,
    retained_bytes INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, slot_ms)
);
CREATE INDEX storage_samples_by_slot ON storage_samples (slot_ms);

-- PullUsage pages through usage in (hour, namespace, kind) order.
CREATE INDEX usage_by_hour ON usage (hour_ms, namespace_id, action);
