-- Orgs managed through the admin API, each as the text of its policy (an [[org]] table),
-- its revision (one more per write) and its pending ownership transfer (JSON, or NULL).
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    revision BIGINT NOT NULL,
    transfer TEXT
);

-- Every write: who, what, the org's policy before and after, when. One row per revision.
CREATE TABLE audit (
    org TEXT NOT NULL,
    revision BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    PRIMARY KEY (org, revision)
);
