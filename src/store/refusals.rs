//! The log of refused admin attempts: a member of an org asked for a change the model did
//! not allow. Kept apart from the audit log, whose rows are one per revision: a refusal
//! changes nothing, so it has no revision of its own, and is numbered per org instead.

use sqlx::Row;

use super::{Store, StoreError};

/// One refused attempt: who, what (the action and the body as sent), why, when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RefusedAttempt {
    pub org: String,
    /// Numbers this org's refusals from 1, oldest first.
    pub seq: u64,
    /// Seconds since the Unix epoch (RFC 3339 in JSON).
    #[serde(serialize_with = "crate::instant::serialize")]
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
    /// The refusal as the caller was told it.
    pub reason: String,
}

/// Writers racing for the next number retry this often (PostgreSQL; SQLite has one writer).
const ATTEMPTS: usize = 5;

impl Store {
    /// Appends a refused attempt to org `r.org`'s log as its next number (`r.seq` is ignored).
    pub async fn record_refusal(&self, r: RefusedAttempt) -> Result<u64, StoreError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let row = r.clone();
            let inserted = self
                .run(move |pool| async move {
                    let mut tx = pool.begin().await?;
                    let next: i64 =
                        sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM refusals WHERE org = $1")
                            .bind(&row.org)
                            .fetch_one(&mut *tx)
                            .await?
                            .try_get("next")?;
                    sqlx::query(
                        "INSERT INTO refusals (org, seq, at, actor, action, detail, reason) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&row.org)
                    .bind(next)
                    .bind(row.at)
                    .bind(&row.actor)
                    .bind(&row.action)
                    .bind(&row.detail)
                    .bind(&row.reason)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(u64::try_from(next).unwrap_or(0))
                })
                .await;
            match inserted {
                Ok(seq) => return Ok(seq),
                // Another replica took the number: take the next.
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Task("no attempt was made".into())))
    }

    /// Org `id`'s refused attempts after number `after`, oldest first, at most `limit`.
    pub async fn refusals(&self, id: &str, after: u64, limit: u32) -> Result<Vec<RefusedAttempt>, StoreError> {
        let org = id.to_string();
        let rows = self
            .run(move |pool| async move {
                sqlx::query(
                    "SELECT org, seq, at, actor, action, detail, reason FROM refusals \
                     WHERE org = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(org)
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(&pool)
                .await
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RefusedAttempt {
                    org: r.try_get("org")?,
                    seq: u64::try_from(r.try_get::<i64, _>("seq")?).unwrap_or(0),
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    detail: r.try_get("detail")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }
}
