-- Visibility for Temporal's list-filter language: the standard attributes as
-- columns, custom (and column-less system) search attributes as typed rows.
-- Rows written before this migration keep defaults for the new columns; they
-- are rewritten with real values the next time their run changes. As on the
-- real server, the history counters and the duration are NULL until close.
ALTER TABLE visibility ADD COLUMN execution_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE visibility ADD COLUMN sort_close_ms BIGINT NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE visibility ADD COLUMN execution_duration_ns BIGINT;
ALTER TABLE visibility ADD COLUMN task_queue TEXT NOT NULL DEFAULT '';
ALTER TABLE visibility ADD COLUMN parent_workflow_id TEXT;
ALTER TABLE visibility ADD COLUMN parent_run_id TEXT;
ALTER TABLE visibility ADD COLUMN root_workflow_id TEXT NOT NULL DEFAULT '';
ALTER TABLE visibility ADD COLUMN root_run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE visibility ADD COLUMN history_length BIGINT;
ALTER TABLE visibility ADD COLUMN history_size_bytes BIGINT;
ALTER TABLE visibility ADD COLUMN state_transition_count BIGINT;
UPDATE visibility SET execution_ms = start_ms,
    sort_close_ms = COALESCE(close_ms, 9223372036854775807),
    root_workflow_id = workflow_id, root_run_id = run_id;

DROP INDEX visibility_by_start;
-- The default order (CloseTime DESC NULLS FIRST, StartTime DESC, run id) and
-- its keyset paging; then the filters dashboards use most, each ending in the
-- whole order so a filtered page is read in order, without a sort.
CREATE INDEX visibility_by_order ON visibility (namespace_id, sort_close_ms DESC, start_ms DESC, run_id);
CREATE INDEX visibility_by_workflow_id ON visibility (namespace_id, workflow_id);
CREATE INDEX visibility_by_type ON visibility (namespace_id, workflow_type, sort_close_ms DESC, start_ms DESC, run_id);
CREATE INDEX visibility_by_status ON visibility (namespace_id, status, sort_close_ms DESC, start_ms DESC, run_id);
CREATE INDEX visibility_by_start ON visibility (namespace_id, start_ms);

CREATE TABLE visibility_search_attributes (
    namespace_id TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    ordinal      BIGINT NOT NULL,
    int_value    BIGINT,
    double_value DOUBLE PRECISION,
    text_value   TEXT,
    PRIMARY KEY (namespace_id, run_id, name, ordinal)
);
-- Each ends in run_id: a filter's subquery reads the index alone.
CREATE INDEX visibility_sa_int ON visibility_search_attributes (namespace_id, name, int_value, run_id);
CREATE INDEX visibility_sa_double ON visibility_search_attributes (namespace_id, name, double_value, run_id);
CREATE INDEX visibility_sa_text ON visibility_search_attributes (namespace_id, name, text_value, run_id);
