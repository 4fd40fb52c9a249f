-- The retention queue: for each closed run, its archival upload (when its
-- namespace archives) and then its deletion when retention ends, each due at
-- `fire_ms`. A failed upload moves its task later. Kept apart from
-- timer_tasks so an S3 outage or a wave of deletions never makes a user
-- timer late.
CREATE TABLE retention_tasks (
    shard_id INTEGER NOT NULL,
    fire_ms  BIGINT  NOT NULL,
    task_id  BIGINT  NOT NULL,
    data     BYTEA   NOT NULL,
    PRIMARY KEY (shard_id, fire_ms, task_id)
);
