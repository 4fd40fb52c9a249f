-- Cell processes sharing one database. Each heartbeats its row; its peers
-- count a member alive while its last heartbeat is recent, and route a
-- history shard's calls to the member whose name the shard row holds (see
-- `shards.owner`). Rows silent for an hour are deleted by any heartbeat, so
-- the table stays as small as the set of recent processes.
CREATE TABLE cluster_members (
    member_id    TEXT    NOT NULL PRIMARY KEY,
    peer_addr    TEXT    NOT NULL,
    started_ms   BIGINT  NOT NULL,
    heartbeat_ms BIGINT  NOT NULL
);
CREATE INDEX cluster_members_by_heartbeat ON cluster_members (heartbeat_ms);
