-- Usage pulled from cells (PullUsage on a cell's admin listener). A cell
-- reports TOTALS per (its namespace id, hour, kind); a pull replaces the row
-- it holds, so pulling the same hours again never counts twice.
CREATE TABLE usage_totals (
    cell_id           TEXT   NOT NULL REFERENCES cells (id),
    -- The id the cell gave the namespace (not the control plane's id).
    cell_namespace_id TEXT   NOT NULL,
    -- The hour's start, ms since the epoch (UTC).
    hour_ms           BIGINT NOT NULL,
    -- An Action kind or storage.active_byte_seconds / storage.retained_byte_seconds.
    kind              TEXT   NOT NULL,
    total             BIGINT NOT NULL,
    PRIMARY KEY (cell_id, cell_namespace_id, hour_ms, kind)
);

-- Which control-plane namespace (and so which account) a cell's namespace id
-- is. Learnt once per id by asking the cell for the namespace's name (the
-- control plane registers namespaces under their control-plane id) and kept
-- after the namespace is deleted, so its usage stays billable.
CREATE TABLE usage_namespaces (
    cell_id           TEXT NOT NULL REFERENCES cells (id),
    cell_namespace_id TEXT NOT NULL,
    namespace_id      TEXT NOT NULL,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (cell_id, cell_namespace_id)
);
CREATE INDEX usage_namespaces_account ON usage_namespaces (account_id, namespace_id);

-- Per cell: the hour the next pull starts at (moved only once every page of
-- a pull is stored) and when the last whole pull started.
CREATE TABLE usage_cursors (
    cell_id              TEXT   PRIMARY KEY REFERENCES cells (id),
    from_hour_ms         BIGINT NOT NULL,
    last_pull_started_ms BIGINT NOT NULL
);
