//! Writes no member asks for: the sweep that removes grants past their `expires_at`, and
//! the creator records the gateway makes from the creates it forwards.
//!
//! Each is an ordinary commit (validated, audited, replicated like any write) in the name
//! of who caused it. There is nothing to authorise: an expiry was decided when the grant
//! was given, and a create was allowed by the model before the gateway forwarded it.
//! Enforcement never waits for either: `decide` compares a grant's end with the request's
//! time, so the sweep only tidies the store.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{AdminError, ControlPlane, MAX_ATTEMPTS, Outcome, Written};
use crate::policy::{CreatedDecl, Loc, Located, OrgDecl};

/// The audit log's actor for the sweep.
pub const EXPIRY_ACTOR: &str = "portcullis (expiry)";

/// The audit log's actor for creator records (who created what is in each entry's detail).
pub const GATEWAY_ACTOR: &str = "portcullis (gateway)";

/// What the gateway saw of one resource: a create it forwarded, answered with where the new
/// resource is, or a delete answered 2xx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatorEvent {
    pub org: String,
    pub resource: Resource,
    /// The creator's member id in `org`; `None`: the resource was deleted.
    pub creator: Option<String>,
}

/// Takes the gateway's creator events off the request path: a channel, and one thread that
/// commits whatever has queued as one write per org. Sending never blocks a request.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: std::sync::mpsc::Sender<CreatorEvent>,
}

/// How often a batch that could not be written is tried before it is reported lost.
const RECORD_ATTEMPTS: u32 = 3;

impl Recorder {
    /// Starts the thread that writes events through `control`; it ends with the last sender.
    pub fn start(control: &Arc<ControlPlane>) -> Recorder {
        let (tx, rx) = std::sync::mpsc::channel::<CreatorEvent>();
        let weak = Arc::downgrade(control);
        let spawned = std::thread::Builder::new().name("portcullis-creators".into()).spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut by_org: std::collections::BTreeMap<String, Vec<CreatorEvent>> =
                    std::collections::BTreeMap::new();
                for e in std::iter::once(first).chain(rx.try_iter().take(10_000)) {
                    by_org.entry(e.org.clone()).or_default().push(e);
                }
                let Some(control) = weak.upgrade() else { return };
                for (org, events) in by_org {
                    write_events(&control, &org, &events);
                }
            }
        });
        if let Err(e) = spawned {
            eprintln!("portcullis: cannot start the creator recorder ({e}); creates are not recorded");
        }
        Recorder { tx }
    }

    /// Queues `event` for the store.
    pub fn send(&self, event: CreatorEvent) {
        if self.tx.send(event).is_err() {
            eprintln!("portcullis: the creator recorder has stopped; a creator record was not written");
        }
    }
}

fn write_events(control: &ControlPlane, org: &str, events: &[CreatorEvent]) {
    for attempt in 1..=RECORD_ATTEMPTS {
        match control.store.block_on(control.apply_creator_events(org, events)) {
            Ok(_) => return,
            Err(e) if attempt < RECORD_ATTEMPTS => {
                eprintln!("portcullis: writing creator records of org '{org}' failed (trying again): {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => eprintln!("portcullis: {} creator records of org '{org}' were not written: {e}", events.len()),
        }
    }
}

/// One resource, as a creator record names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Resource {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub id: String,
}

impl ControlPlane {
    /// Removes from the stored orgs every binding and share that ended at or before `now`,
    /// one audited commit per org; returns how many grants it removed. Which orgs to look
    /// at comes from the live snapshot, so a sweep with nothing to do reads nothing.
    pub async fn sweep_expired(&self, now: i64) -> Result<usize, AdminError> {
        let due: Vec<String> = {
            let live = self.live.handle().load();
            live.orgs()
                .filter(|o| {
                    let ended = |e: Option<i64>| e.is_some_and(|e| e <= now);
                    o.model.bindings.iter().any(|b| ended(b.expires_at.get()))
                        || o.model.shares.iter().any(|s| ended(s.expires_at.get()))
                })
                .map(|o| o.id().to_string())
                .filter(|id| self.live.is_stored(id))
                .collect()
        };
        let mut removed = 0;
        for org in due {
            let mut count = 0;
            self.system_write(&org, EXPIRY_ACTOR, "grants.expire", |decl| {
                let (after, detail, n) = expire(decl, now)?;
                count = n;
                Some((after, detail))
            })
            .await?;
            removed += count;
        }
        Ok(removed)
    }

    /// Applies what the gateway saw in `org`, in order, as one audited write: a create's
    /// creator recorded (replacing an earlier record of the resource), a deleted resource's
    /// record dropped. A creator no longer a member (removed meanwhile) records nothing, nor
    /// does an org not stored here (a file-owned org's records belong in its file).
    pub async fn apply_creator_events(
        &self,
        org: &str,
        events: &[CreatorEvent],
    ) -> Result<Option<Written>, AdminError> {
        if !self.live.is_stored(org) {
            return Ok(None);
        }
        let at = crate::instant::now();
        self.system_write(org, GATEWAY_ACTOR, "created.update", |decl| {
            let mut after = decl.clone();
            let (mut recorded, mut forgotten) = (Vec::new(), Vec::new());
            for e in events {
                let before = after.created.len();
                after.created.retain(|c| !names(c, &e.resource));
                match &e.creator {
                    Some(creator) => {
                        let member = after.members.iter().chain(&after.service_accounts).any(|m| m.as_str() == creator);
                        if member {
                            let s = |v: &str| Located::synthetic(v.to_string());
                            after.created.push(CreatedDecl {
                                subject: s(creator),
                                kind: s(&e.resource.kind),
                                project: e.resource.project.as_deref().map(s),
                                id: s(&e.resource.id),
                                at: Some(Located::synthetic(at)),
                                loc: Loc::SYNTHETIC,
                            });
                            recorded.push(serde_json::json!({ "creator": creator, "resource": e.resource }));
                        }
                    }
                    None if after.created.len() < before => forgotten.push(serde_json::json!(e.resource)),
                    None => {}
                }
            }
            if recorded.is_empty() && forgotten.is_empty() {
                return None;
            }
            Some((after, serde_json::json!({ "recorded": recorded, "forgotten": forgotten })))
        })
        .await
    }

    /// Commits what `change` makes of the org as stored, in `actor`'s name; `change`
    /// answers `None` when there is nothing to do.
    async fn system_write<F>(
        &self,
        org: &str,
        actor: &str,
        action: &str,
        mut change: F,
    ) -> Result<Option<Written>, AdminError>
    where
        F: FnMut(&OrgDecl) -> Option<(OrgDecl, serde_json::Value)>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.current(org).await?;
            let Some((after, detail)) = change(&cur.decl) else { return Ok(None) };
            let outcome = Outcome { after, transfer: cur.stored.transfer.clone(), tokens: None };
            if let Some(written) = self.commit(&cur, actor, action, &detail.to_string(), outcome).await? {
                return Ok(Some(written));
            }
        }
        Err(AdminError::Busy { org: org.into() })
    }
}

fn names(c: &CreatedDecl, r: &Resource) -> bool {
    c.kind.as_str() == r.kind && c.id.as_str() == r.id && c.project.as_ref().map(|p| p.as_str()) == r.project.as_deref()
}

/// `decl` without the grants that ended at or before `now`, what was removed, and how many;
/// `None` if nothing had ended.
fn expire(decl: &OrgDecl, now: i64) -> Option<(OrgDecl, serde_json::Value, usize)> {
    let ended = |e: &Option<Located<i64>>| e.as_ref().is_some_and(|e| e.value <= now);
    let bindings: Vec<serde_json::Value> = decl
        .bindings
        .iter()
        .filter(|b| ended(&b.expires_at))
        .map(|b| serde_json::json!({ "subject": b.subject.value, "role": b.role.value, "project": b.project.as_ref().map(|p| &p.value) }))
        .collect();
    let shares: Vec<serde_json::Value> = decl
        .shares
        .iter()
        .filter(|s| ended(&s.expires_at))
        .map(|s| serde_json::json!({ "subject": s.subject.value, "kind": s.kind.value, "project": s.project.as_ref().map(|p| &p.value), "id": s.id.value }))
        .collect();
    let n = bindings.len() + shares.len();
    if n == 0 {
        return None;
    }
    let mut after = decl.clone();
    after.bindings.retain(|b| !ended(&b.expires_at));
    after.shares.retain(|s| !ended(&s.expires_at));
    Some((after, serde_json::json!({ "expired": { "bindings": bindings, "shares": shares } }), n))
}

/// Runs the sweep every `every` on its own thread for as long as the control plane lives.
/// A failed sweep is reported and tried again next time.
pub(super) fn sweep_periodically(control: &Arc<ControlPlane>, every: Duration) {
    let weak: Weak<ControlPlane> = Arc::downgrade(control);
    let spawned = std::thread::Builder::new().name("portcullis-expiry".into()).spawn(move || {
        loop {
            std::thread::sleep(every);
            let Some(control) = weak.upgrade() else { return };
            match control.store.block_on(control.sweep_expired(crate::instant::now())) {
                Ok(0) => {}
                Ok(n) => eprintln!("portcullis: removed {n} expired grants from the store"),
                Err(e) => eprintln!("portcullis: the expiry sweep failed (it runs again in {every:?}): {e}"),
            }
        }
    });
    if let Err(e) = spawned {
        eprintln!("portcullis: cannot start the expiry sweep ({e}); ended grants still count for nothing");
    }
}

/// The audit log's actor for orgs `portcullis demo` imports from the policy files.
pub const IMPORT_ACTOR: &str = "portcullis (demo import)";

impl ControlPlane {
    /// Copies every org the policy files declare into the store, and from then on serves
    /// each from the store alone (its file declaration is left out of reloads), so that the
    /// admin API can change it. Returns the ids imported. For `portcullis demo`, whose store
    /// is thrown away at exit: an org the store already has is an error, never overwritten.
    pub async fn import_file_orgs(&self) -> Result<Vec<String>, AdminError> {
        let files = crate::source::read_policy_dir(self.live.dir()).map_err(|e| AdminError::Import(e.to_string()))?;
        let (set, _) = crate::policy::parse(&files, crate::policy::FileMode::Policy)
            .map_err(|e| AdminError::Import(e.to_string()))?;
        let mut imported = Vec::new();
        for decl in &set.orgs {
            let id = decl.id.as_str();
            let text = crate::policy::render_org(decl);
            let audit = crate::store::AuditEntry {
                org: id.into(),
                revision: 1,
                at: crate::instant::now(),
                actor: IMPORT_ACTOR.into(),
                action: "org.import".into(),
                detail: serde_json::json!({ "id": id, "file": set.source_loc(decl.loc).to_string() }).to_string(),
                before: String::new(),
                after: text.clone(),
            };
            let revision = self.store.create_org(id, &text, audit).await?;
            self.live.ignore_file_org(id);
            self.publish(id, &text, revision);
            imported.push(id.to_string());
        }
        Ok(imported)
    }
}
