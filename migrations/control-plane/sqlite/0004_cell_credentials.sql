-- Each cell has a credential of its own, issued when it is registered and
-- stored only as a hash (unique, so a lookup names one cell). The one admin
-- token all cells shared is gone: it was kept in plaintext here, and it was
-- also accepted by cells' tenant endpoints. A cell registered before this
-- has no credential until it is registered again.
DROP INDEX cells_token;
ALTER TABLE cells DROP COLUMN admin_token;
ALTER TABLE cells DROP COLUMN admin_token_hash;
ALTER TABLE cells ADD COLUMN credential_hash TEXT;
CREATE UNIQUE INDEX cells_credential ON cells (credential_hash);

-- What the cell says it takes, on each poll of its snapshot: placement uses
-- the smaller of this and the registered capacity.
ALTER TABLE cells ADD COLUMN reported_capacity BIGINT;
