//! A collection's answer cut down to the items the caller may read.
//!
//! A member who holds a share on one container gets a 403 on the collection: it may not
//! `list` the kind. Where the collection's route says how its answer lists items
//! (`filter = { items = "/items", id = "/id" }`), the gateway forwards such a `GET` instead,
//! reads the whole answer (up to `max_filtered_bytes`) and removes every item whose id the
//! caller may not `read`, each decided as a request for that item would be. The rest of the
//! answer stays byte for byte as the upstream wrote it.
//!
//! Fail closed: an answer that is not JSON, is encoded, has no array at the pointer, is
//! larger than the limit or does not arrive in time is a 502, never forwarded unfiltered;
//! an item without a readable id is removed. A caller who may read nothing of the kind in
//! that scope is still refused (403) before anything is forwarded, and a caller with
//! kind-wide `list` never reaches this module: its answer streams untouched.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body_util::BodyExt as _;
use serde_json::value::RawValue;

use super::forward::{ResponseBody, error_response};
use super::pipeline::Pipeline;
use crate::auth::Principal;
use crate::decide::{Request, decide};
use crate::jsonpointer::Id;
use crate::model::Verb;
use crate::route::{ItemFilter, Route, Target};
use crate::snapshot::Snapshot;

/// The header on a filtered answer, so a client can tell it from the whole collection.
pub const FILTERED_HEADER: &str = "portcullis-filtered";

/// A collection `GET` forwarded to be filtered: whose answer, and how.
#[derive(Debug)]
pub struct Filtering {
    org: String,
    kind: String,
    project: Option<String>,
    hierarchical: bool,
    principal: Arc<Principal>,
    filter: Arc<ItemFilter>,
}

impl Filtering {
    /// The filtering of a denied `target` on `route`, if its route filters, it is a `GET` of
    /// the collection, and `principal` may read something of the kind in its scope.
    pub fn wanted(
        snapshot: &Snapshot,
        route: &Route,
        method: &str,
        target: &Target<'_>,
        principal: &Arc<Principal>,
    ) -> Option<Filtering> {
        let filter = route.filter.as_ref()?;
        if method != "GET" || target.verb != Verb::List || target.id.is_some() {
            return None;
        }
        let caller = principal.caller();
        let reach = crate::access::reach::reach(
            snapshot,
            target.org,
            caller,
            target.kind,
            Some(Verb::Read),
            crate::instant::now(),
        )
        .ok()?;
        if !crate::access::reach::reads_some(&reach, target.project) {
            return None;
        }
        let kinds = &snapshot.globals().kinds;
        let hierarchical = kinds.get(target.kind).and_then(|k| kinds.info(k)).is_some_and(|i| i.hierarchical);
        Some(Filtering {
            org: target.org.into(),
            kind: target.kind.into(),
            project: target.project.map(Into::into),
            hierarchical,
            principal: principal.clone(),
            filter: filter.clone(),
        })
    }

    /// Whether the caller may read the item named `id`, in the live snapshot at `at`.
    fn may_read(&self, snapshot: &Snapshot, id: &str, at: i64) -> bool {
        let Some(id) = decided_id(id, self.hierarchical) else { return false };
        let request = Request {
            org: &self.org,
            principal: self.principal.caller(),
            project: self.project.as_deref(),
            kind: &self.kind,
            id: Some(&id),
            verb: Verb::Read,
            at,
        };
        decide(snapshot, &request).allowed
    }
}

/// An item's id as a request for it would be decided on, if a request could name it: one
/// canonical segment, or for a hierarchical kind a path of them (`/a/b`, written with or
/// without its leading `/`).
fn decided_id(id: &str, hierarchical: bool) -> Option<Cow<'_, str>> {
    if !hierarchical {
        return crate::canon::is_decoded_segment(id).then_some(Cow::Borrowed(id));
    }
    let path = id.strip_prefix('/').unwrap_or(id);
    if !path.split('/').all(crate::canon::is_decoded_segment) {
        return None;
    }
    Some(if id.starts_with('/') { Cow::Borrowed(id) } else { Cow::Owned(format!("/{id}")) })
}

/// Why an answer could not be filtered (each a 502).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the upstream's answer is not JSON, so the items the caller may not read cannot be removed")]
    NotJson,
    #[error("the upstream's answer names a key on the way to its items twice, which parsers read differently")]
    Ambiguous,
    #[error("the upstream's answer has no array at the route's filter.items '{pointer}'")]
    NoArray { pointer: String },
    #[error("the upstream's answer is larger than max_filtered_bytes ({limit} bytes), the most a filter reads")]
    TooLarge { limit: usize },
    #[error("the upstream's answer is content-encoded ({coding}), so it cannot be filtered")]
    Encoded { coding: String },
    #[error("the upstream's answer did not arrive in time")]
    TimedOut,
    #[error("the upstream's answer broke off")]
    Broken,
}

/// `json` with only the items `keep` accepts (given each item's id) left in the array at
/// `filter.items`; everything else as it was. Items without an id are removed.
pub fn filter_items(
    json: &str,
    filter: &ItemFilter,
    mut keep: impl FnMut(&str) -> bool,
) -> Result<Vec<u8>, FilterError> {
    let no_array = || FilterError::NoArray { pointer: filter.items.as_str().to_string() };
    let items = match filter.items.find_as::<Vec<&RawValue>>(json) {
        Ok(Some(items)) => items,
        Ok(None) => return Err(no_array()),
        // Not an array there, or a key on the way named twice.
        Err(e) if e.is_data() => {
            return Err(if e.to_string().contains(crate::jsonpointer::TWICE) {
                FilterError::Ambiguous
            } else {
                no_array()
            });
        }
        Err(_) => return Err(FilterError::NotJson),
    };
    // Each item's text is a slice of `json`: what comes before the first and after the last
    // stays as it is.
    let offset = |raw: &RawValue| (raw.get().as_ptr() as usize).wrapping_sub(json.as_ptr() as usize);
    let (Some(first), Some(last)) = (items.first(), items.last()) else { return Ok(json.as_bytes().to_vec()) };
    let (start, end) = (offset(first), offset(last).saturating_add(last.get().len()));
    let (Some(before), Some(after)) = (json.get(..start), json.get(end..)) else { return Err(FilterError::NotJson) };
    let mut out = Vec::with_capacity(json.len());
    out.extend_from_slice(before.as_bytes());
    let mut any = false;
    for item in items {
        let kept = matches!(filter.id.find_as::<Id>(item.get()), Ok(Some(Id(id))) if keep(&id));
        if kept {
            if any {
                out.push(b',');
            }
            any = true;
            out.extend_from_slice(item.get().as_bytes());
        }
    }
    out.extend_from_slice(after.as_bytes());
    Ok(out)
}

/// The upstream's `response` to a filtered request, read whole (within `deadline`) and cut
/// down to what the caller may read; a 502 when that cannot be done. Answers other than a
/// 2xx with a body carry no items and pass as they are.
pub(super) async fn filtered(
    response: Response<ResponseBody>,
    filtering: &Filtering,
    pipeline: &Pipeline,
    deadline: Duration,
    request_id: u64,
) -> Response<ResponseBody> {
    let status = response.status();
    if !status.is_success() || status == http::StatusCode::NO_CONTENT {
        return response;
    }
    let limit = pipeline.limits().max_filtered_bytes;
    match tokio::time::timeout(deadline, filter_response(response, filtering, pipeline, limit)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => error_response(502, &format!("bad gateway: {e}"), None, None, request_id, false),
        Err(_) => {
            error_response(502, &format!("bad gateway: {}", FilterError::TimedOut), None, None, request_id, false)
        }
    }
}

async fn filter_response(
    response: Response<ResponseBody>,
    filtering: &Filtering,
    pipeline: &Pipeline,
    limit: usize,
) -> Result<Response<ResponseBody>, FilterError> {
    let (mut parts, mut body) = response.into_parts();
    if let Some(coding) = parts.headers.get(http::header::CONTENT_ENCODING)
        && !coding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        return Err(FilterError::Encoded { coding: String::from_utf8_lossy(coding.as_bytes()).into_owned() });
    }
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(FilterError::TooLarge { limit });
    }
    let mut seen = Vec::with_capacity(declared.map_or(0, |n| usize::try_from(n).unwrap_or(0)));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| FilterError::Broken)?;
        if let Some(data) = frame.data_ref() {
            if seen.len().saturating_add(data.len()) > limit {
                return Err(FilterError::TooLarge { limit });
            }
            seen.extend_from_slice(data);
        }
    }
    let text = std::str::from_utf8(&seen).map_err(|_| FilterError::NotJson)?;
    let snapshot = pipeline.policy().handle().load();
    let at = crate::instant::now();
    let out = filter_items(text, &filtering.filter, |id| filtering.may_read(&snapshot, id, at))?;
    let headers = &mut parts.headers;
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    // What the upstream said of the whole collection is not true of this answer, and the
    // answer is the caller's own.
    for stale in [http::header::ETAG, http::header::LAST_MODIFIED, http::header::CONTENT_RANGE] {
        headers.remove(stale);
    }
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(FILTERED_HEADER, HeaderValue::from_static("true"));
    Ok(Response::from_parts(parts, ResponseBody::full(Bytes::from(out))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use crate::jsonpointer::Pointer;

    fn filter(items: &str) -> ItemFilter {
        ItemFilter { items: Pointer::parse(items).unwrap(), id: Pointer::parse("/id").unwrap() }
    }

    fn kept(json: &str, items: &str, allowed: &[&str]) -> Result<String, FilterError> {
        filter_items(json, &filter(items), |id| allowed.contains(&id)).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn removes_what_may_not_be_read_and_leaves_the_rest_as_written() {
        let json = r#"{"next": "abc",  "items": [ {"id": "c-1", "n": 1}, {"id":"c-2"} ,{"id": 3}, {"name": "no id"} ], "z": {}}"#;
        assert_eq!(
            kept(json, "/items", &["c-1", "3"]).unwrap(),
            r#"{"next": "abc",  "items": [ {"id": "c-1", "n": 1},{"id": 3} ], "z": {}}"#
        );
        assert_eq!(kept(json, "/items", &[]).unwrap(), r#"{"next": "abc",  "items": [  ], "z": {}}"#);
        assert_eq!(kept(r#"{"items": [ ]}"#, "/items", &[]).unwrap(), r#"{"items": [ ]}"#);
        assert_eq!(kept(r#"[{"id":"a"},{"id":"b"}]"#, "", &["b"]).unwrap(), r#"[{"id":"b"}]"#);
    }

    #[test]
    fn fails_closed_on_what_it_cannot_read() {
        assert_eq!(kept("<html>", "/items", &[]), Err(FilterError::NotJson));
        assert_eq!(kept(r#"{"items": [}"#, "/items", &[]), Err(FilterError::NotJson));
        assert!(matches!(kept(r#"{"data": []}"#, "/items", &[]), Err(FilterError::NoArray { .. })));
        assert!(matches!(kept(r#"{"items": {"id": "a"}}"#, "/items", &[]), Err(FilterError::NoArray { .. })));
        // Two arrays, one read by the gateway and the other by the client: neither.
        assert_eq!(kept(r#"{"items": [], "items": [{"id": "x"}]}"#, "/items", &["x"]), Err(FilterError::Ambiguous));
        // An item whose id two parsers would read differently is removed.
        assert_eq!(kept(r#"{"items": [{"id": "a", "id": "b"}]}"#, "/items", &["a", "b"]).unwrap(), r#"{"items": []}"#);
    }

    #[test]
    fn ids_a_request_could_not_name_are_never_read() {
        assert_eq!(decided_id("c-1", false).as_deref(), Some("c-1"));
        for bad in ["", ".", "..", "a/b", "a;b", "a b", "a\u{2215}b", "a\nb"] {
            assert_eq!(decided_id(bad, false), None, "{bad:?}");
        }
        assert_eq!(decided_id("a/b", true).as_deref(), Some("/a/b"));
        assert_eq!(decided_id("/a/b", true).as_deref(), Some("/a/b"));
        for bad in ["/a/../b", "a//b", "/a/", "/"] {
            assert_eq!(decided_id(bad, true), None, "{bad:?}");
        }
    }
}
