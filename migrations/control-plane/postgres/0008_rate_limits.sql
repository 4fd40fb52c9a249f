-- Rate-limit budgets (logins per email and per address, signups and
-- invitation acceptances per address), shared by every replica of the
-- control plane so N replicas do not give N budgets. One row per budget and
-- key, holding only the instant its budget is full again (GCRA); a row whose
-- instant has passed changes no answer and is pruned.
CREATE TABLE rate_limits (
    bucket     TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    full_at_ms BIGINT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE INDEX rate_limits_full_at ON rate_limits (full_at_ms);
