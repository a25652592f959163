-- Admin attempts the model refused, by members of the org (who, what, why), numbered per
-- org. Nothing is written for callers outside the org: they cannot add to its log.
CREATE TABLE refusals (
    org TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (org, seq)
);
