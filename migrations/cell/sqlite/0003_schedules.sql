-- Schedules: one row each, the whole state as protobuf; `next_wake_ms` is
-- when the scheduler must look at it next (NULL: only when asked).
CREATE TABLE schedules (
    namespace_id TEXT    NOT NULL,
    schedule_id  TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    next_wake_ms INTEGER,
    data         BLOB    NOT NULL,
    PRIMARY KEY (namespace_id, schedule_id)
);
CREATE INDEX schedules_by_wake ON schedules (next_wake_ms);
