-- A namespace's payload codec server (as Temporal Cloud offers): the
-- console's browser sends payloads there to be decoded before it shows
-- them, so encrypted payloads stay unreadable to Orrery. Only the address
-- and two browser options are kept; nothing here is secret.
CREATE TABLE namespace_codec_servers (
    namespace_id        TEXT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    endpoint            TEXT    NOT NULL,
    pass_access_token   BOOLEAN NOT NULL,
    include_credentials BOOLEAN NOT NULL,
    updated_ms          BIGINT  NOT NULL
);
