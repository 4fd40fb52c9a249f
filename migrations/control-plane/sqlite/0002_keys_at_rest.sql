-- Private keys at rest are sealed (envelope encryption, see
-- control-plane/src/sealing.rs): the columns hold the sealed form, not PEM.
-- Rows an older version wrote in plaintext are sealed by the control plane
-- at its next start.
ALTER TABLE signing_keys RENAME COLUMN private_key_pem TO private_key_sealed;
ALTER TABLE namespace_mtls RENAME COLUMN generated_ca_key_pem TO generated_ca_key_sealed;

-- 'api_key' keys sign API keys and rotate; the 'control' key signs what the
-- control plane sends cells. retired_ms: when a newer key of the same
-- purpose took over signing.
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'api_key';
ALTER TABLE signing_keys ADD COLUMN retired_ms BIGINT;
CREATE INDEX signing_keys_purpose ON signing_keys (purpose, created_ms);

-- The key that signed each API key: a retired signing key is published to
-- cells while an API key it signed is unexpired. Before this there was only
-- ever one signing key.
ALTER TABLE api_keys ADD COLUMN signing_kid TEXT;
UPDATE api_keys SET signing_kid = (SELECT kid FROM signing_keys ORDER BY created_ms, kid LIMIT 1);
CREATE INDEX api_keys_signing_kid ON api_keys (signing_kid, expires_ms);
