-- Service accounts' API tokens issued through the admin API: only the SHA-256 of each token
-- is kept. A revoked token keeps its row (with when), so the audit trail can name it.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    account TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT
);
