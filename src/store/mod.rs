//! Where the control plane keeps the orgs it manages: SQLite on one machine, PostgreSQL when
//! replicas share it. One schema, one set of migrations, one code path (sqlx's `Any` driver);
//! only change notification differs (PostgreSQL's `LISTEN/NOTIFY`, see [`Store::listen`]).
//!
//! An org is stored as the text of its policy (the `[[org]]` table a policies folder would
//! hold, see [`crate::policy::render_org`]), its revision, and its pending ownership
//! transfer. A write is one transaction: the new text (already validated by the caller with
//! the policy validator), the next revision, and an audit row with the text before and after.
//! It commits only if the org is still at the revision the change was computed from (an
//! optimistic check: two writers on two replicas cannot lose each other's change; the loser
//! is told [`Committed::Conflict`] and computes again).
//!
//! The store runs on its own small tokio runtime, so that the pool's connections belong to
//! one runtime whatever calls it (the gateway's cores and its background runtime alike).

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::transfer::Transfer;

mod refusals;
mod requests;

pub use refusals::RefusedAttempt;
pub use requests::AccessRequest;

/// The schema, in order. Each runs once, in a transaction, and is recorded in
/// `portcullis_schema`. Plain SQL that SQLite and PostgreSQL both accept.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_orgs.sql")),
    (2, include_str!("../../migrations/0002_api_tokens.sql")),
    (3, include_str!("../../migrations/0003_refusals.sql")),
    (4, include_str!("../../migrations/0004_access_requests.sql")),
];

/// The PostgreSQL channel that carries `"<revision> <unix ms> <org>"` after each commit (the
/// time is when the writer committed, for the propagation lag).
pub const CHANNEL: &str = "portcullis_orgs";

/// Which database a [`Store`] is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One org as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOrg {
    pub id: String,
    /// Its policy, as policy-file TOML.
    pub policy: String,
    pub revision: u64,
    pub transfer: Option<Transfer>,
}

/// One row of the audit log: who changed what, the org's policy before and after, when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub org: String,
    pub revision: u64,
    /// Seconds since the Unix epoch (RFC 3339 in JSON).
    #[serde(serialize_with = "crate::instant::serialize")]
    pub at: i64,
    pub actor: String,
    pub action: String,
    /// The change as the actor asked for it (JSON).
    pub detail: String,
    pub before: String,
    pub after: String,
}

/// A service account's API token as stored (its SHA-256, never the token).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredToken {
    pub id: String,
    pub org: String,
    pub account: String,
    #[serde(skip)]
    pub sha256: String,
    #[serde(serialize_with = "crate::instant::serialize")]
    pub created_at: i64,
    pub created_by: String,
    #[serde(serialize_with = "crate::instant::serialize_opt")]
    pub revoked_at: Option<i64>,
}

/// A change to API tokens, committed with the org write it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenChange {
    Issue {
        id: String,
        account: String,
        sha256: String,
        by: String,
    },
    Revoke {
        id: String,
    },
    /// Every token of each removed service account.
    RevokeAccounts {
        accounts: Vec<String>,
    },
}

/// The outcome of [`Store::commit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Committed {
    /// Written as this revision.
    At(u64),
    /// The org is no longer at the expected revision (another write came first), or is gone.
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store ({what}) cannot be reached or refused the operation: {source}")]
    Database {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("the store cannot start its runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("org '{org}' is already in the store")]
    Exists { org: String },
    #[error("the stored transfer of org '{org}' is unreadable: {message}")]
    Corrupt { org: String, message: String },
    #[error("the store's task was lost: {0}")]
    Task(String),
}

/// Whether a [`Store`] may write (and so migrate) or only read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

/// A connection pool to the store, and the runtime it runs on.
#[derive(Debug)]
pub struct Store {
    runtime: tokio::runtime::Runtime,
    pool: AnyPool,
    backend: Backend,
    /// Where it is, for messages: the SQLite file, or the PostgreSQL URL without its password.
    place: String,
}

impl Store {
    /// The SQLite store `portcullis.db` in `data_dir` (created, with the folder, on first
    /// use; WAL journal, synchronous commits).
    pub fn sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir { path: data_dir.into(), source })?;
        let file = data_dir.join("portcullis.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Store::open(&url, Backend::Sqlite, file.display().to_string(), Access::ReadWrite)
    }

    /// The PostgreSQL store at `url` (`postgres://user:password@host:port/db`).
    pub fn postgres(url: &str) -> Result<Store, StoreError> {
        Store::open(url, Backend::Postgres, redact(url), Access::ReadWrite)
    }

    /// The store as it is, for a reader that must change nothing (`portcullis explain`): no
    /// folder or file is created, no migration runs. `None` for a SQLite store that does not
    /// exist yet (it holds no orgs).
    pub fn read_only(location: &crate::config::StoreLocation) -> Result<Option<Store>, StoreError> {
        use crate::config::StoreLocation;
        match location {
            StoreLocation::Sqlite { data_dir } => {
                let file = data_dir.join("portcullis.db");
                if !file.exists() {
                    return Ok(None);
                }
                let url = format!("sqlite://{}?mode=ro", file.display());
                Store::open(&url, Backend::Sqlite, file.display().to_string(), Access::ReadOnly).map(Some)
            }
            StoreLocation::Postgres { url } => {
                Store::open(url, Backend::Postgres, redact(url), Access::ReadOnly).map(Some)
            }
        }
    }

    fn open(url: &str, backend: Backend, place: String, access: Access) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("portcullis-store")
            .enable_all()
            .build()
            .map_err(StoreError::Runtime)?;
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let options = match backend {
            // One connection: SQLite has one writer anyway, and this way writes queue here
            // instead of failing with SQLITE_BUSY.
            Backend::Sqlite => options.max_connections(1).after_connect(move |conn, _| {
                Box::pin(async move {
                    if access == Access::ReadWrite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                    }
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(8),
        };
        let what = place.clone();
        let url = url.to_string();
        let pool = runtime
            .block_on(async move { options.connect(&url).await })
            .map_err(|source| StoreError::Database { what: what.clone(), source })?;
        let store = Store { runtime, pool, backend, place };
        if access == Access::ReadWrite {
            store.runtime.block_on(store.migrate())?;
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the store is (no password).
    pub fn place(&self) -> &str {
        &self.place
    }

    fn db(&self, source: sqlx::Error) -> StoreError {
        StoreError::Database { what: self.place.clone(), source }
    }

    /// Runs `f` on the store's runtime and waits for it from any runtime.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(AnyPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    {
        let task = self.runtime.spawn(f(self.pool.clone()));
        match task.await {
            Ok(result) => result.map_err(|e| self.db(e)),
            Err(e) => Err(StoreError::Task(e.to_string())),
        }
    }

    /// Runs a store call to completion from code outside any runtime (start-up, the CLI's
    /// tests).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let postgres = self.backend == Backend::Postgres;
        self.run(move |pool| async move {
            let mut tx = pool.begin().await?;
            if postgres {
                // Replicas starting together migrate one at a time.
                tx.execute("SELECT pg_advisory_xact_lock(7406120611)").await?;
            }
            tx.execute(
                "CREATE TABLE IF NOT EXISTS portcullis_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await?;
            for (version, sql) in MIGRATIONS {
                let done = sqlx::query("SELECT version FROM portcullis_schema WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?;
                if done.is_some() {
                    continue;
                }
                for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    tx.execute(statement).await?;
                }
                sqlx::query("INSERT INTO portcullis_schema (version, applied_at) VALUES ($1, $2)")
                    .bind(*version)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })
        .await
    }

    /// One org, or `None` if the store has no org of that id.
    pub async fn org(&self, id: &str) -> Result<Option<StoredOrg>, StoreError> {
        let id = id.to_string();
        let row = self
            .run(move |pool| async move {
                sqlx::query("SELECT id, policy, revision, transfer FROM orgs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&pool)
                    .await
            })
            .await?;
        row.map(|r| stored_org(&r)).transpose()
    }

    /// Every org in the store.
    pub async fn orgs(&self) -> Result<Vec<StoredOrg>, StoreError> {
        let rows = self
            .run(|pool| async move {
                sqlx::query("SELECT id, policy, revision, transfer FROM orgs ORDER BY id").fetch_all(&pool).await
            })
            .await?;
        rows.iter().map(stored_org).collect()
    }

    /// Adds a new org at revision 1.
    pub async fn create_org(&self, id: &str, policy: &str, audit: AuditEntry) -> Result<u64, StoreError> {
        let (org, text, postgres) = (id.to_string(), policy.to_string(), self.backend == Backend::Postgres);
        let created = self
            .run(move |pool| async move {
                let mut tx = pool.begin().await?;
                let exists =
                    sqlx::query("SELECT id FROM orgs WHERE id = $1").bind(&org).fetch_optional(&mut *tx).await?;
                if exists.is_some() {
                    return Ok(false);
                }
                sqlx::query("INSERT INTO orgs (id, policy, revision, transfer) VALUES ($1, $2, 1, NULL)")
                    .bind(&org)
                    .bind(&text)
                    .execute(&mut *tx)
                    .await?;
                insert_audit(&mut tx, &AuditEntry { revision: 1, ..audit }).await?;
                if postgres {
                    notify(&mut tx, &org, 1).await?;
                }
                tx.commit().await?;
                Ok(true)
            })
            .await?;
        if created { Ok(1) } else { Err(StoreError::Exists { org: id.into() }) }
    }

    /// Writes org `id`'s new policy and pending transfer as the revision after `expected`,
    /// with its audit row, if the org is still at `expected`.
    pub async fn commit(
        &self,
        id: &str,
        expected: u64,
        policy: &str,
        transfer: Option<&Transfer>,
        tokens: Option<TokenChange>,
        audit: AuditEntry,
    ) -> Result<Committed, StoreError> {
        let transfer = match transfer.map(serde_json::to_string).transpose() {
            Ok(t) => t,
            Err(e) => return Err(StoreError::Corrupt { org: id.into(), message: e.to_string() }),
        };
        let (org, text, postgres) = (id.to_string(), policy.to_string(), self.backend == Backend::Postgres);
        let next = expected + 1;
        self.run(move |pool| async move {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE orgs SET policy = $1, revision = $2, transfer = $3 WHERE id = $4 AND revision = $5",
            )
            .bind(&text)
            .bind(next as i64)
            .bind(transfer)
            .bind(&org)
            .bind(expected as i64)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(Committed::Conflict);
            }
            let at = audit.at;
            match tokens {
                Some(TokenChange::Issue { id, account, sha256, by }) => {
                    sqlx::query(
                        "INSERT INTO api_tokens (id, org, account, sha256, created_at, created_by, revoked_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, NULL)",
                    )
                    .bind(id)
                    .bind(&org)
                    .bind(account)
                    .bind(sha256)
                    .bind(at)
                    .bind(by)
                    .execute(&mut *tx)
                    .await?;
                }
                Some(TokenChange::Revoke { id }) => {
                    sqlx::query(
                        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND org = $3 AND revoked_at IS NULL",
                    )
                    .bind(at)
                    .bind(id)
                    .bind(&org)
                    .execute(&mut *tx)
                    .await?;
                }
                Some(TokenChange::RevokeAccounts { accounts }) => {
                    for account in accounts {
                        sqlx::query(
                            "UPDATE api_tokens SET revoked_at = $1 WHERE org = $2 AND account = $3 AND revoked_at IS NULL",
                        )
                        .bind(at)
                        .bind(&org)
                        .bind(account)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                None => {}
            }
            insert_audit(&mut tx, &AuditEntry { revision: next, ..audit }).await?;
            if postgres {
                notify(&mut tx, &org, next).await?;
            }
            tx.commit().await?;
            Ok(Committed::At(next))
        })
        .await
    }

    /// The API tokens of org `org` (every org with `None`), revoked ones included.
    pub async fn tokens(&self, org: Option<&str>) -> Result<Vec<StoredToken>, StoreError> {
        let org = org.map(str::to_string);
        let rows = self
            .run(move |pool| async move {
                match org {
                    Some(o) => {
                        sqlx::query(
                            "SELECT id, org, account, sha256, created_at, created_by, revoked_at FROM api_tokens \
                             WHERE org = $1 ORDER BY created_at, id",
                        )
                        .bind(o)
                        .fetch_all(&pool)
                        .await
                    }
                    None => {
                        sqlx::query(
                            "SELECT id, org, account, sha256, created_at, created_by, revoked_at FROM api_tokens \
                             ORDER BY org, created_at, id",
                        )
                        .fetch_all(&pool)
                        .await
                    }
                }
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredToken {
                    id: r.try_get("id")?,
                    org: r.try_get("org")?,
                    account: r.try_get("account")?,
                    sha256: r.try_get("sha256")?,
                    created_at: r.try_get("created_at")?,
                    created_by: r.try_get("created_by")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    /// The audit log of org `id`, oldest first, from revision `after + 1`, at most `limit` rows.
    pub async fn audit(&self, id: &str, after: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let org = id.to_string();
        let rows = self
            .run(move |pool| async move {
                sqlx::query(
                    "SELECT org, revision, at, actor, action, detail, before, after FROM audit \
                     WHERE org = $1 AND revision > $2 ORDER BY revision LIMIT $3",
                )
                .bind(org)
                .bind(after as i64)
                .bind(i64::from(limit))
                .fetch_all(&pool)
                .await
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    org: r.try_get("org")?,
                    revision: u64::try_from(r.try_get::<i64, _>("revision")?).unwrap_or(0),
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    detail: r.try_get("detail")?,
                    before: r.try_get("before")?,
                    after: r.try_get("after")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    /// Follows other replicas' commits (PostgreSQL only): calls `changed(org, revision,
    /// committed_at_ms)` for
    /// each notification, and `lost()` whenever the listening connection was lost and
    /// re-established (notifications in between are gone: resync everything). Runs until
    /// the process ends, on the store's runtime; a connection that cannot be made is retried
    /// every second.
    pub fn listen<C, L>(&self, url: &str, changed: C, lost: L)
    where
        C: Fn(&str, u64, u64) + Send + 'static,
        L: Fn() + Send + 'static,
    {
        let url = url.to_string();
        self.runtime.spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("portcullis: cannot listen for store changes ({}): {e}; retrying", redact(&url));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen(CHANNEL).await {
                    eprintln!("portcullis: cannot listen on {CHANNEL}: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                // Anything committed before LISTEN took effect was not announced to us.
                lost();
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            let mut parts = n.payload().splitn(3, ' ');
                            let revision = parts.next().and_then(|r| r.parse::<u64>().ok());
                            let at_ms = parts.next().and_then(|t| t.parse::<u64>().ok());
                            match (revision, at_ms, parts.next()) {
                                (Some(revision), Some(at_ms), Some(org)) => changed(org, revision, at_ms),
                                _ => lost(),
                            }
                        }
                        Ok(None) => {
                            lost();
                        }
                        Err(e) => {
                            eprintln!("portcullis: lost the store's change notifications: {e}; reconnecting");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            break;
                        }
                    }
                }
            }
        });
    }
}

fn stored_org(r: &AnyRow) -> Result<StoredOrg, StoreError> {
    let get = || -> Result<(String, String, i64, Option<String>), sqlx::Error> {
        Ok((r.try_get("id")?, r.try_get("policy")?, r.try_get("revision")?, r.try_get("transfer")?))
    };
    let (id, policy, revision, transfer) =
        get().map_err(|source| StoreError::Database { what: "a row of orgs".into(), source })?;
    let transfer = match transfer {
        Some(t) => Some(
            serde_json::from_str(&t).map_err(|e| StoreError::Corrupt { org: id.clone(), message: e.to_string() })?,
        ),
        None => None,
    };
    Ok(StoredOrg { id, policy, revision: u64::try_from(revision).unwrap_or(0), transfer })
}

async fn insert_audit(tx: &mut sqlx::Transaction<'_, sqlx::Any>, a: &AuditEntry) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit (org, revision, at, actor, action, detail, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&a.org)
    .bind(a.revision as i64)
    .bind(a.at)
    .bind(&a.actor)
    .bind(&a.action)
    .bind(&a.detail)
    .bind(&a.before)
    .bind(&a.after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Announces a commit to every replica; PostgreSQL delivers it when the transaction commits,
/// and not at all if it rolls back.
async fn notify(tx: &mut sqlx::Transaction<'_, sqlx::Any>, org: &str, revision: u64) -> Result<(), sqlx::Error> {
    let payload = format!("{revision} {} {org}", now_ms());
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&mut **tx).await?;
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    crate::instant::now()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A database URL without its secrets, for messages: the password of the user info is
/// dropped, and the value of any query parameter that names a password or key
/// (`password`, `sslpassword`, ...) is replaced by `REDACTED`.
pub fn redact(url: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, host)) => format!("{}@{host}", userinfo.split(':').next().unwrap_or("")),
        None => rest.to_string(),
    };
    let mut out = if scheme.is_empty() { rest } else { format!("{scheme}://{rest}") };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| {
                let name = param.split('=').next().unwrap_or("");
                let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy().to_ascii_lowercase();
                let secret = ["password", "passwd", "secret", "key", "token"].iter().any(|w| decoded.contains(w));
                if secret && param.contains('=') { format!("{name}=REDACTED") } else { param.to_string() }
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(super::redact("postgres://app:s3cret@db:5432/p"), "postgres://app@db:5432/p");
        assert_eq!(super::redact("postgres://db/p"), "postgres://db/p");
        assert_eq!(
            super::redact("postgres://app@db/p?sslmode=require&password=s3cret"),
            "postgres://app@db/p?sslmode=require&password=REDACTED"
        );
        assert_eq!(super::redact("postgres://db/p?PASS%57ORD=s3cret"), "postgres://db/p?PASS%57ORD=REDACTED");
        assert_eq!(super::redact("postgres://a:b@c@db/p?sslkey=/k&x=1"), "postgres://a@db/p?sslkey=REDACTED&x=1");
        let location =
            crate::config::StoreLocation::Postgres { url: "postgres://u:s3cret@db/p?password=s3cret".into() };
        assert!(!format!("{location:?}").contains("s3cret"));
    }
}
