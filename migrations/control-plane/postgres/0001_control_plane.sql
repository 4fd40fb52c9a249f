-- The control plane's own schema (PostgreSQL). Times are milliseconds since the
-- epoch; secrets are stored only as sha256 hex, except what the control plane
-- must present itself (cell admin tokens, its signing key, generated CA keys).
CREATE TABLE control_meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO control_meta (key, value) VALUES ('snapshot_version', 1);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT   NOT NULL,
    private_key_pem TEXT   NOT NULL,
    public_key_pem  TEXT   NOT NULL,
    created_ms      BIGINT NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT   NOT NULL,
    slug       TEXT   NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    account_id        TEXT   NOT NULL REFERENCES accounts (id),
    email             TEXT   NOT NULL UNIQUE,
    role              TEXT   NOT NULL,
    state             TEXT   NOT NULL,
    password_hash     TEXT,
    invite_token_hash TEXT UNIQUE,
    invite_expires_ms BIGINT,
    created_ms        BIGINT NOT NULL
);
CREATE INDEX users_account ON users (account_id);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT   NOT NULL,
    expires_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE service_accounts (
    id          TEXT PRIMARY KEY,
    account_id  TEXT   NOT NULL REFERENCES accounts (id),
    name        TEXT   NOT NULL,
    description TEXT   NOT NULL,
    role        TEXT   NOT NULL,
    created_ms  BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE cells (
    id               TEXT PRIMARY KEY,
    name             TEXT   NOT NULL UNIQUE,
    grpc_endpoint    TEXT   NOT NULL,
    admin_endpoint   TEXT   NOT NULL,
    admin_token      TEXT   NOT NULL,
    admin_token_hash TEXT   NOT NULL,
    capacity         BIGINT NOT NULL,
    created_ms       BIGINT NOT NULL
);
CREATE INDEX cells_token ON cells (admin_token_hash);

CREATE TABLE namespaces (
    id             TEXT PRIMARY KEY,
    account_id     TEXT   NOT NULL REFERENCES accounts (id),
    name           TEXT   NOT NULL,
    cell_id        TEXT   NOT NULL REFERENCES cells (id),
    retention_days BIGINT NOT NULL,
    state          TEXT   NOT NULL,
    created_by     TEXT   NOT NULL,
    created_ms     BIGINT NOT NULL,
    updated_ms     BIGINT NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX namespaces_cell ON namespaces (cell_id);

CREATE TABLE namespace_grants (
    namespace_id TEXT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    principal    TEXT NOT NULL,
    permission   TEXT NOT NULL,
    PRIMARY KEY (namespace_id, principal)
);
CREATE INDEX namespace_grants_principal ON namespace_grants (principal);

CREATE TABLE namespace_mtls (
    namespace_id          TEXT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    ca_pems               TEXT   NOT NULL, -- JSON array of PEM blocks
    filters               TEXT   NOT NULL, -- JSON array of certificate filters
    generated_ca_cert_pem TEXT,
    generated_ca_key_pem  TEXT,
    updated_ms            BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  TEXT    NOT NULL REFERENCES accounts (id),
    owner       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    enabled     BOOLEAN NOT NULL,
    expires_ms  BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_id, owner);

CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    source_ip  TEXT   NOT NULL,
    outcome    TEXT   NOT NULL,
    detail     TEXT   NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
