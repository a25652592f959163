//! After the upstream answers an allowed create or delete: who created what.
//!
//! A create on a collection learns the new resource's id from the answer: by default the
//! `Location` header, or, where the route sets `created_id`, a JSON pointer into the body
//! (read as it streams to the client, up to [`MAX_CREATED_BODY`] bytes, never delaying it).
//! Either way the resource's path must map through the gateway's own routes to the same
//! org, kind and project, with the id already canonical; anything else records nothing and
//! says so, at most once a minute. A create or delete that names its resource needs no
//! answer beyond a 2xx. The event goes to the control plane's
//! [`Recorder`](crate::control::Recorder), off the request path.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use http::HeaderMap;

use super::pipeline::{Creation, Pipeline};
use crate::canon::{Canonical, canonicalise_with_limit};
use crate::control::{CreatorEvent, Recorder, Resource};
use crate::reload::LivePolicy;

/// The most of a create's answer read for its `created_id`. A larger answer still reaches
/// the client whole; only its creator goes unrecorded.
pub const MAX_CREATED_BODY: usize = 256 * 1024;

/// Sends what `creation`, answered 2xx with `headers` to a request for `path`, made or
/// removed; or, when the new id is in the body, returns the watcher to give the body to.
pub(super) fn answered(
    pipeline: &Pipeline,
    creation: Creation,
    headers: &HeaderMap,
    path: &str,
) -> Option<Box<CreatedBody>> {
    let recorder = pipeline.recorder()?;
    let id = match (&creation.id, &creation.created_id) {
        (Some(id), _) => id.clone(),
        (None, Some(pointer)) => {
            if let Some(coding) = headers.get(http::header::CONTENT_ENCODING)
                && coding.as_bytes() != b"identity"
            {
                unrecorded(&creation, "the answer is content-encoded, so its created_id cannot be read");
                return None;
            }
            return Some(Box::new(CreatedBody {
                recorder: recorder.clone(),
                policy: pipeline.policy().clone(),
                max_target_bytes: pipeline.limits().max_target_bytes,
                pointer: pointer.clone(),
                collection: path.to_string(),
                seen: Vec::new(),
                over: false,
                creation,
            }));
        }
        (None, None) => {
            let checked = location_path(headers)
                .and_then(|path| resource_id(pipeline.policy(), pipeline.limits().max_target_bytes, &creation, path));
            match checked {
                Ok(id) => id,
                Err(why) => {
                    unrecorded(&creation, why);
                    return None;
                }
            }
        }
    };
    send(recorder, creation, id);
    None
}

fn send(recorder: &Recorder, creation: Creation, id: String) {
    let Creation { org, kind, project, deleted, member, .. } = creation;
    let creator = (!deleted).then_some(member);
    recorder.send(CreatorEvent { org, resource: Resource { kind, project, id }, creator });
}

/// Says, at most once a minute, that a create answered 2xx recorded no creator: an upstream
/// that never sends what the route expects would otherwise log every create.
fn unrecorded(creation: &Creation, why: &str) {
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = crate::instant::now();
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 60 && LAST.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        eprintln!(
            "portcullis: a create of {} in org '{}' was answered 2xx but no creator is recorded: {why} \
             (said at most once a minute)",
            creation.kind, creation.org
        );
    }
}

/// The path of the answer's `Location`: an absolute URL's path, or the path itself.
fn location_path(headers: &HeaderMap) -> Result<&str, &'static str> {
    let location = headers.get(http::header::LOCATION).ok_or("the answer has no Location")?;
    let location = location.to_str().map_err(|_| "its Location is not text")?;
    Ok(match location.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| rest.get(i..).unwrap_or("/")),
        None => location,
    })
}

/// The id of the resource at `path`, through the live routes, if it is one of `creation`'s
/// org, kind and project.
fn resource_id(
    policy: &LivePolicy,
    max_target_bytes: usize,
    creation: &Creation,
    path: &str,
) -> Result<String, &'static str> {
    let mut canonical = Canonical::default();
    canonicalise_with_limit(path.as_bytes(), max_target_bytes, &mut canonical)
        .map_err(|_| "the new resource's path is not a valid path")?;
    let snapshot = policy.handle().load();
    let routes = snapshot.routes().ok_or("no routes are loaded")?;
    let target =
        routes.table.resolve("GET", &canonical).map_err(|_| "the new resource's path matches no route for GET")?;
    if target.org != creation.org || target.kind != creation.kind || target.project != creation.project.as_deref() {
        return Err("the new resource's path names a resource of another org, kind or project");
    }
    target.id.map(str::to_string).ok_or("the new resource's path names a collection, not a resource")
}

/// A create's answer on its way to the client, read for the new id at `pointer`.
pub struct CreatedBody {
    recorder: Recorder,
    policy: Arc<LivePolicy>,
    max_target_bytes: usize,
    pointer: Arc<str>,
    /// The collection the create was sent to (canonical).
    collection: String,
    seen: Vec<u8>,
    /// The answer outgrew [`MAX_CREATED_BODY`].
    over: bool,
    creation: Creation,
}

impl CreatedBody {
    /// Takes a copy of a data frame, up to the bound.
    pub fn frame(&mut self, data: &Bytes) {
        if self.over {
            return;
        }
        if self.seen.len().saturating_add(data.len()) > MAX_CREATED_BODY {
            self.over = true;
            self.seen = Vec::new();
            return;
        }
        self.seen.extend_from_slice(data);
    }

    /// The answer has ended: records its creator, or says why not.
    pub fn ended(self) {
        match self.created_id() {
            Ok(id) => send(&self.recorder, self.creation, id),
            Err(why) => unrecorded(&self.creation, why),
        }
    }

    fn created_id(&self) -> Result<String, &'static str> {
        if self.over {
            return Err("the answer is larger than 256 KiB, the most read for created_id");
        }
        let json: serde_json::Value =
            serde_json::from_slice(&self.seen).map_err(|_| "the answer is not JSON, so created_id finds nothing")?;
        let id = match json.pointer(&self.pointer) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
            Some(_) => return Err("the answer's created_id is neither a string nor an integer"),
            None => return Err("the answer has nothing at its route's created_id"),
        };
        if id.is_empty() || id.contains('/') {
            return Err("the answer's created_id is empty or holds a '/'");
        }
        let path = format!("{}/{id}", self.collection.trim_end_matches('/'));
        let resolved = resource_id(&self.policy, self.max_target_bytes, &self.creation, &path)?;
        if resolved != id {
            return Err("the answer's created_id is not in canonical form (it would name another resource)");
        }
        Ok(id)
    }
}
