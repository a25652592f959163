-- Just-in-time access: a member asks for verbs on one resource, or a role in one project,
-- for a while, with a reason, and someone who could grant it directly approves or denies.
-- Approval writes the expiring share or binding into the org (audited there), and the row
-- keeps who asked and who decided, and when.
CREATE TABLE access_requests (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    requester TEXT NOT NULL,
    kind TEXT,
    project TEXT,
    resource_id TEXT,
    verbs TEXT,
    role TEXT,
    duration_secs BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    PRIMARY KEY (org, id)
);
