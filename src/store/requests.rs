//! Access requests as stored: one row each, its state moved only from `pending`, so two
//! approvers (on two replicas) cannot both decide one.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// One access request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccessRequest {
    pub org: String,
    pub id: String,
    /// Who asks: a user id, or a service account's name (as a member of `org`).
    pub requester: String,
    /// Verbs on one resource (`kind`, `project`, `resource_id`, `verbs`) ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(rename = "id_of_resource", skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    /// ... or a role in `project`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// How long the grant lasts once approved.
    pub duration_secs: u64,
    pub reason: String,
    #[serde(serialize_with = "crate::instant::serialize")]
    pub created_at: i64,
    /// Unanswered by then, the request has expired.
    #[serde(serialize_with = "crate::instant::serialize")]
    pub expires_at: i64,
    /// `pending`, `approved`, `denied` (as stored; see [`AccessRequest::state_at`]).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(serialize_with = "crate::instant::serialize_opt", skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
}

impl AccessRequest {
    /// Its state at `now`: a pending request past its `expires_at` has expired.
    pub fn state_at(&self, now: i64) -> &str {
        if self.state == "pending" && now >= self.expires_at { "expired" } else { &self.state }
    }
}

macro_rules! columns {
    () => {
        "org, id, requester, kind, project, resource_id, verbs, role, duration_secs, reason, created_at, expires_at, \
         state, decided_by, decided_at"
    };
}

fn from_row(r: &AnyRow) -> Result<AccessRequest, sqlx::Error> {
    let verbs: Option<String> = r.try_get("verbs")?;
    Ok(AccessRequest {
        org: r.try_get("org")?,
        id: r.try_get("id")?,
        requester: r.try_get("requester")?,
        kind: r.try_get("kind")?,
        project: r.try_get("project")?,
        resource_id: r.try_get("resource_id")?,
        verbs: verbs.map(|v| v.split(',').filter(|w| !w.is_empty()).map(str::to_string).collect()).unwrap_or_default(),
        role: r.try_get("role")?,
        duration_secs: u64::try_from(r.try_get::<i64, _>("duration_secs")?).unwrap_or(0),
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        state: r.try_get("state")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
    })
}

impl Store {
    pub async fn insert_request(&self, q: &AccessRequest) -> Result<(), StoreError> {
        let q = q.clone();
        self.run(move |pool| async move {
            sqlx::query(concat!(
                "INSERT INTO access_requests (",
                columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ))
            .bind(q.org)
            .bind(q.id)
            .bind(q.requester)
            .bind(q.kind)
            .bind(q.project)
            .bind(q.resource_id)
            .bind((!q.verbs.is_empty()).then(|| q.verbs.join(",")))
            .bind(q.role)
            .bind(i64::try_from(q.duration_secs).unwrap_or(i64::MAX))
            .bind(q.reason)
            .bind(q.created_at)
            .bind(q.expires_at)
            .bind(q.state)
            .bind(q.decided_by)
            .bind(q.decided_at)
            .execute(&pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Org `org`'s requests, newest first, at most `limit`.
    pub async fn requests(&self, org: &str, limit: u32) -> Result<Vec<AccessRequest>, StoreError> {
        let org = org.to_string();
        self.run(move |pool| async move {
            let rows = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM access_requests WHERE org = $1 ORDER BY created_at DESC, id LIMIT $2"
            ))
            .bind(org)
            .bind(i64::from(limit))
            .fetch_all(&pool)
            .await?;
            rows.iter().map(from_row).collect()
        })
        .await
    }

    pub async fn request(&self, org: &str, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        let (org, id) = (org.to_string(), id.to_string());
        self.run(move |pool| async move {
            let row = sqlx::query(concat!("SELECT ", columns!(), " FROM access_requests WHERE org = $1 AND id = $2"))
                .bind(org)
                .bind(id)
                .fetch_optional(&pool)
                .await?;
            row.as_ref().map(from_row).transpose()
        })
        .await
    }

    /// Gives back a claim `by` made (approved, its grant not written): pending again.
    pub async fn reopen_request(&self, org: &str, id: &str, by: &str) -> Result<bool, StoreError> {
        let (org, id, by) = (org.to_string(), id.to_string(), by.to_string());
        self.run(move |pool| async move {
            let done = sqlx::query(
                "UPDATE access_requests SET state = 'pending', decided_by = NULL, decided_at = NULL \
                 WHERE org = $1 AND id = $2 AND state = 'approved' AND decided_by = $3",
            )
            .bind(org)
            .bind(id)
            .bind(by)
            .execute(&pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Moves a pending request to `state`; false if it was no longer pending.
    pub async fn decide_request(
        &self,
        org: &str,
        id: &str,
        state: &str,
        by: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let (org, id, state, by) = (org.to_string(), id.to_string(), state.to_string(), by.to_string());
        self.run(move |pool| async move {
            let done = sqlx::query(
                "UPDATE access_requests SET state = $1, decided_by = $2, decided_at = $3 \
                 WHERE org = $4 AND id = $5 AND state = 'pending'",
            )
            .bind(state)
            .bind(by)
            .bind(at)
            .bind(org)
            .bind(id)
            .execute(&pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }
}
