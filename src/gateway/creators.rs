//! After the upstream answers an allowed create or delete: who created what.
//!
//! A create on a collection learns the new resource's id from the answer's `Location`,
//! which must map through the gateway's own routes to the same org, kind and project (a
//! `Location` elsewhere records nothing, and says so). A create or delete that names its
//! resource needs no answer beyond a 2xx. The event goes to the control plane's
//! [`Recorder`](crate::control::Recorder), off the request path.

use std::sync::atomic::{AtomicI64, Ordering};

use http::HeaderMap;

use super::pipeline::{Creation, Pipeline};
use crate::canon::{Canonical, canonicalise_with_limit};
use crate::control::{CreatorEvent, Resource};

/// Sends what `creation`, answered 2xx with `headers`, made or removed.
pub(super) fn answered(pipeline: &Pipeline, creation: Creation, headers: &HeaderMap) {
    let Some(recorder) = pipeline.recorder() else { return };
    let Creation { org, kind, project, id, deleted, member } = creation;
    let id = match id {
        Some(id) => id,
        None => match created_id(pipeline, &org, &kind, project.as_deref(), headers) {
            Ok(id) => id,
            Err(why) => {
                // At most once a minute: an upstream that never sends Location would
                // otherwise log every create.
                static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
                let now = crate::instant::now();
                let last = LAST.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= 60
                    && LAST.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
                {
                    eprintln!(
                        "portcullis: a create of {kind} in org '{org}' was answered 2xx but no creator is recorded: {why} \
                         (said at most once a minute)"
                    );
                }
                return;
            }
        },
    };
    let creator = (!deleted).then_some(member);
    recorder.send(CreatorEvent { org, resource: Resource { kind, project, id }, creator });
}

/// The id of the resource the answer's `Location` names, through the live routes.
fn created_id(
    pipeline: &Pipeline,
    org: &str,
    kind: &str,
    project: Option<&str>,
    headers: &HeaderMap,
) -> Result<String, &'static str> {
    let location = headers.get(http::header::LOCATION).ok_or("the answer has no Location")?;
    let location = location.to_str().map_err(|_| "its Location is not text")?;
    // An absolute URL's path, or the path itself.
    let path = match location.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| rest.get(i..).unwrap_or("/")),
        None => location,
    };
    let mut canonical = Canonical::default();
    canonicalise_with_limit(path.as_bytes(), pipeline.limits().max_target_bytes, &mut canonical)
        .map_err(|_| "its Location is not a valid path")?;
    let snapshot = pipeline.policy().handle().load();
    let routes = snapshot.routes().ok_or("no routes are loaded")?;
    let target = routes.table.resolve("GET", &canonical).map_err(|_| "its Location matches no route for GET")?;
    if target.org != org || target.kind != kind || target.project != project {
        return Err("its Location names a resource of another org, kind or project");
    }
    target.id.map(str::to_string).ok_or("its Location names a collection, not a resource")
}
