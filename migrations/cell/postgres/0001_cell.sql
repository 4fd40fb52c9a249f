-- One cell's state on PostgreSQL. Bodies are protobuf bytes; columns exist only
-- where a query filters, orders or fences on them.
CREATE TABLE cluster_metadata (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE shards (
    shard_id   INTEGER PRIMARY KEY,
    range_id   BIGINT  NOT NULL,
    owner      TEXT    NOT NULL,
    updated_ms BIGINT  NOT NULL
);

CREATE TABLE namespaces (
    id      TEXT PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE,
    version BIGINT  NOT NULL,
    data    BYTEA    NOT NULL
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
    db_version    BIGINT  NOT NULL,
    next_event_id BIGINT  NOT NULL,
    state         BYTEA    NOT NULL,
    PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id)
);

CREATE TABLE history_events (
    namespace_id TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    event_id     BIGINT  NOT NULL,
    data         BYTEA    NOT NULL,
    PRIMARY KEY (namespace_id, run_id, event_id)
);

CREATE TABLE timer_tasks (
    shard_id INTEGER NOT NULL,
    fire_ms  BIGINT  NOT NULL,
    task_id  BIGINT  NOT NULL,
    data     BYTEA    NOT NULL,
    PRIMARY KEY (shard_id, fire_ms, task_id)
);

CREATE TABLE transfer_tasks (
    shard_id INTEGER NOT NULL,
    task_id  BIGINT  NOT NULL,
    data     BYTEA    NOT NULL,
    PRIMARY KEY (shard_id, task_id)
);

CREATE TABLE queue_tasks (
    namespace_id TEXT    NOT NULL,
    task_queue   TEXT    NOT NULL,
    kind         INTEGER NOT NULL,
    task_id      BIGINT  NOT NULL,
    data         BYTEA    NOT NULL,
    PRIMARY KEY (namespace_id, task_queue, kind, task_id)
);

CREATE TABLE visibility (
    namespace_id  TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    workflow_id   TEXT    NOT NULL,
    workflow_type TEXT    NOT NULL,
    status        INTEGER NOT NULL,
    start_ms      BIGINT  NOT NULL,
    close_ms      BIGINT ,
    data          BYTEA    NOT NULL,
    PRIMARY KEY (namespace_id, run_id)
);
CREATE INDEX visibility_by_start ON visibility (namespace_id, start_ms DESC, run_id);

CREATE TABLE usage (
    namespace_id TEXT    NOT NULL,
    hour_ms      BIGINT  NOT NULL,
    action       TEXT    NOT NULL,
    count        BIGINT  NOT NULL,
    PRIMARY KEY (namespace_id, hour_ms, action)
);
