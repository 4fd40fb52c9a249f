-- One cell's state on SQLite. Bodies are protobuf bytes; columns exist only
-- where a query filters, orders or fences on them.
CREATE TABLE cluster_metadata (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE shards (
    shard_id   INTEGER PRIMARY KEY,
    range_id   INTEGER NOT NULL,
    owner      TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE namespaces (
    id      TEXT PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    data    BLOB    NOT NULL
);

CREATE TABLE current_executions (
    shard_id          INTEGER NOT NULL,
    namespace_id      TEXT    NOT NULL,
    workflow_id       TEXT    NOT NULL,
    run_id            TEXT    NOT NULL,
    create_request_id TEXT    NOT NULL,
    status            INTEGER NOT NULL,
    PRIMARY KEY (shard_id, namespace_id, workflow_id)
);

CREATE TABLE executions (
    shard_id      INTEGER NOT NULL,
    namespace_id  TEXT    NOT NULL,
    workflow_id   TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    db_version    INTEGER NOT NULL,
    next_event_id INTEGER NOT NULL,
    state         BLOB    NOT NULL,
    PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id)
);

CREATE TABLE history_events (
    namespace_id TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    event_id     INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    PRIMARY KEY (namespace_id, run_id, event_id)
);

CREATE TABLE timer_tasks (
    shard_id INTEGER NOT NULL,
    fire_ms  INTEGER NOT NULL,
    task_id  INTEGER NOT NULL,
    data     BLOB    NOT NULL,
    PRIMARY KEY (shard_id, fire_ms, task_id)
);

CREATE TABLE transfer_tasks (
    shard_id INTEGER NOT NULL,
    task_id  INTEGER NOT NULL,
    data     BLOB    NOT NULL,
    PRIMARY KEY (shard_id, task_id)
);

CREATE TABLE queue_tasks (
    namespace_id TEXT    NOT NULL,
    task_queue   TEXT    NOT NULL,
    kind         INTEGER NOT NULL,
    task_id      INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    PRIMARY KEY (namespace_id, task_queue, kind, task_id)
);

CREATE TABLE visibility (
    namespace_id  TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    workflow_id   TEXT    NOT NULL,
    workflow_type TEXT    NOT NULL,
    status        INTEGER NOT NULL,
    start_ms      INTEGER NOT NULL,
    close_ms      INTEGER,
    data          BLOB    NOT NULL,
    PRIMARY KEY (namespace_id, run_id)
);
CREATE INDEX visibility_by_start ON visibility (namespace_id, start_ms DESC, run_id);

CREATE TABLE usage (
    namespace_id TEXT    NOT NULL,
    hour_ms      INTEGER NOT NULL,
    action       TEXT    NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, hour_ms, action)
);
