-- Where a cell serves Temporal's HTTP API to tenants (the web console's
-- workflow views call it); empty when the cell does not serve it.
ALTER TABLE cells ADD COLUMN http_endpoint TEXT NOT NULL DEFAULT '';
