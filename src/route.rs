//! Step 2 of a request's path: map method and canonical path to what is asked, a
//! [`Target`]: the org, the project (for project-level kinds), the kind, the id (or the
//! collection) and the verb.
//!
//! Routes come from `[[route]]` entries of `config.toml`, e.g.
//! `/v1/orgs/{org}/projects/{project}/containers/{id}`. `{org}`, `{project}` and `{id}`
//! capture one segment; `{id...}` at the end captures the rest of the path as a
//! hierarchical id (`/datasets/x`). The table is compiled once per config into a segment
//! trie and matched in one pass over the segments: at each position a literal segment takes
//! precedence over a capture, and matching never backtracks. No route is a 404; a method the
//! route does not map is a 405. Neither is ever forwarded.
//!
//! Methods map to verbs by REST convention: a route without an id (a collection) maps
//! `GET`/`HEAD` to `list` and `POST` to `create`; a route with an id maps `GET`/`HEAD` to
//! `read`, `PUT`/`PATCH` to `update` and `DELETE` to `delete`. A route's own `methods`
//! table replaces the convention (`POST .../{id}/restart` as `update`). Methods are matched
//! exactly as sent: `get` and `FOO` are not `GET`.

use std::fmt;

use crate::canon::Canonical;
use crate::model::Verb;
use crate::strmap::StrMap;

/// One route as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteDecl {
    /// The pattern, e.g. `/v1/orgs/{org}/projects/{project}/storage/{id...}`.
    pub path: String,
    pub kind: String,
    /// Method to verb, replacing the convention when given.
    pub methods: Option<Vec<(String, Verb)>>,
    /// The upstream group requests on this route go to.
    pub upstream: String,
    /// Where a create's answer carries the new resource's id: a JSON pointer into the
    /// response body (`/id`). Without it, the id is the answer's `Location`.
    pub created_id: Option<String>,
    /// How a collection's answer lists its items, so that a caller without kind-wide `list`
    /// gets the items it may read: `(items, id)`, JSON pointers to the array and, in each
    /// item, to its id.
    pub filter: Option<(String, String)>,
}

/// Where a collection's answer holds its items and each item its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemFilter {
    pub items: crate::jsonpointer::Pointer,
    pub id: crate::jsonpointer::Pointer,
}

/// A route pattern that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    #[error("route '{path}': a pattern starts with '/'")]
    NotAbsolute { path: String },
    #[error(
        "route '{path}': segment '{segment}' is empty or not canonical (no '.', '..', '%', ';' or '//' in patterns)"
    )]
    BadSegment { path: String, segment: String },
    #[error(
        "route '{path}': unknown capture '{{{name}}}'; captures are {{org}}, {{project}}, {{id}} and a final {{id...}}"
    )]
    UnknownCapture { path: String, name: String },
    #[error("route '{path}': '{{{name}}}' appears twice")]
    RepeatedCapture { path: String, name: String },
    #[error("route '{path}': '{{id...}}' must be the last segment")]
    TailNotLast { path: String },
    #[error("route '{path}' needs an {{org}} capture: every decision happens inside one org")]
    NoOrg { path: String },
    #[error("route '{path}' matches the same requests as route '{other}': remove one")]
    Duplicate { path: String, other: String },
    #[error("route '{path}': method '{method}' is not a method token (use upper case, e.g. POST)")]
    BadMethod { path: String, method: String },
    #[error("route '{path}' maps no methods: give at least one in `methods`")]
    NoMethods { path: String },
    #[error(
        "route '{path}': a '{{id...}}' tail cannot share its position with another route's segment (matching does \
         not backtrack, so one of them would never match): move one of the routes"
    )]
    TailConflict { path: String },
    #[error(
        "route '{path}': created_id '{pointer}' is not a JSON pointer: start it with '/', e.g. created_id = \"/id\""
    )]
    CreatedIdNotPointer { path: String, pointer: String },
    #[error(
        "route '{path}': created_id is for a collection route whose methods include a create (the answer names the \
         new resource); this route {why}: remove created_id"
    )]
    CreatedIdNoCreate { path: String, why: &'static str },
    #[error(
        "route '{path}': filter.{key} '{pointer}' is not a JSON pointer: start it with '/', e.g. {key} = \"/{key}\""
    )]
    FilterNotPointer { path: String, key: &'static str, pointer: String },
    #[error(
        "route '{path}': filter is for a collection route that maps GET to list (the answer lists items); this route \
         {why}: remove filter"
    )]
    FilterNoList { path: String, why: &'static str },
}

impl RouteError {
    /// The pattern of the route the error is about.
    pub fn path(&self) -> &str {
        match self {
            RouteError::NotAbsolute { path }
            | RouteError::BadSegment { path, .. }
            | RouteError::UnknownCapture { path, .. }
            | RouteError::RepeatedCapture { path, .. }
            | RouteError::TailNotLast { path }
            | RouteError::NoOrg { path }
            | RouteError::Duplicate { path, .. }
            | RouteError::BadMethod { path, .. }
            | RouteError::NoMethods { path }
            | RouteError::TailConflict { path }
            | RouteError::CreatedIdNotPointer { path, .. }
            | RouteError::CreatedIdNoCreate { path, .. }
            | RouteError::FilterNotPointer { path, .. }
            | RouteError::FilterNoList { path, .. } => path,
        }
    }
}

/// Why a request has no target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoTarget {
    /// No route matches the path: 404.
    NotFound,
    /// The route exists but does not map this method: 405, with the methods it maps.
    MethodNotAllowed { allow: String },
}

/// What a request asks, in the request's own strings (slices of the canonical target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// Index of the route in the table, for logs and upstream selection.
    pub route: usize,
    pub org: &'a str,
    pub project: Option<&'a str>,
    pub kind: &'a str,
    pub id: Option<&'a str>,
    pub verb: Verb,
}

impl<'a> Target<'a> {
    /// The decision request for this target made by `principal`, decided at `at` (seconds
    /// since the Unix epoch).
    pub fn request(&self, principal: crate::principal::Caller<'a>, at: i64) -> crate::decide::Request<'a> {
        crate::decide::Request {
            org: self.org,
            principal,
            project: self.project,
            kind: self.kind,
            id: self.id,
            verb: self.verb,
            at,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Capture {
    Org,
    Project,
    Id,
}

/// A compiled route.
#[derive(Clone, Debug)]
pub struct Route {
    pub path: String,
    pub kind: String,
    pub upstream: String,
    /// For each segment position, what it captures, if anything.
    captures: Vec<Option<Capture>>,
    tail_id: bool,
    methods: Vec<(String, Verb)>,
    /// The JSON pointer to a create answer's new id (see [`RouteDecl::created_id`]).
    pub created_id: Option<std::sync::Arc<str>>,
    /// How to filter a collection's answer (see [`RouteDecl::filter`]).
    pub filter: Option<std::sync::Arc<ItemFilter>>,
}

impl Route {
    fn verb(&self, method: &str) -> Option<Verb> {
        self.methods.iter().find(|(m, _)| m == method).map(|(_, v)| *v)
    }

    fn allow(&self) -> String {
        self.methods.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    literals: StrMap<usize>,
    capture: Option<usize>,
    /// The route ending here.
    route: Option<usize>,
    /// The route whose `{id...}` starts here.
    tail: Option<usize>,
}

/// The route table a snapshot decides with, bound to the running gateway: for each route,
/// the upstream group it forwards to and the metrics slot it is counted in. It is part of
/// the snapshot, so routes and policies change together, in one publication.
#[derive(Clone, Debug)]
pub struct Routes {
    pub table: RouteTable,
    /// Per route: the index of its upstream group.
    pub upstream: Vec<usize>,
    /// Per route: its slot in the request metrics.
    pub metric: Vec<usize>,
}

impl Routes {
    /// Binds `table` to the gateway's upstream groups (by name, in config order) and metric
    /// slots. A route naming a group the gateway did not start with is an error: upstream
    /// groups are made at start.
    pub fn bind(table: RouteTable, upstreams: &[String], metric: Vec<usize>) -> Result<Routes, RoutesError> {
        let mut upstream = Vec::with_capacity(table.routes.len());
        for r in &table.routes {
            let i = upstreams
                .iter()
                .position(|u| *u == r.upstream)
                .ok_or_else(|| RoutesError::NewUpstream { route: r.path.clone(), upstream: r.upstream.clone() })?;
            upstream.push(i);
        }
        Ok(Routes { table, upstream, metric })
    }
}

/// Why a route table was not taken on a reload.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    /// The config file does not load; the text names the file, line and key.
    #[error("the routes were not reloaded: {0}")]
    Config(String),
    #[error(
        "route '{route}' names upstream '{upstream}', which this gateway did not start with: upstream groups are \
         made at start, so restart the gateway to add one"
    )]
    NewUpstream { route: String, upstream: String },
}

/// Every route, compiled into a segment trie.
#[derive(Clone, Debug)]
pub struct RouteTable {
    nodes: Vec<Node>,
    routes: Vec<Route>,
}

impl fmt::Display for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.routes {
            writeln!(f, "{} -> {} ({}) via {}", r.path, r.kind, r.allow(), r.upstream)?;
        }
        Ok(())
    }
}

fn convention(has_id: bool) -> Vec<(String, Verb)> {
    let pairs: &[(&str, Verb)] = if has_id {
        &[
            ("GET", Verb::Read),
            ("HEAD", Verb::Read),
            ("PUT", Verb::Update),
            ("PATCH", Verb::Update),
            ("DELETE", Verb::Delete),
        ]
    } else {
        &[("GET", Verb::List), ("HEAD", Verb::List), ("POST", Verb::Create)]
    };
    pairs.iter().map(|(m, v)| ((*m).to_string(), *v)).collect()
}

fn is_method_token(m: &str) -> bool {
    !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase())
}

impl RouteTable {
    /// Compiles routes; every problem is reported, not just the first.
    pub fn compile(decls: &[RouteDecl]) -> Result<RouteTable, Vec<RouteError>> {
        let mut table = RouteTable { nodes: vec![Node::default()], routes: Vec::new() };
        let mut errors = Vec::new();
        for d in decls {
            if let Err(e) = table.add(d) {
                errors.push(e);
            }
        }
        if errors.is_empty() { Ok(table) } else { Err(errors) }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    fn add(&mut self, d: &RouteDecl) -> Result<(), RouteError> {
        let path = d.path.clone();
        let Some(body) = d.path.strip_prefix('/') else { return Err(RouteError::NotAbsolute { path }) };
        let segments: Vec<&str> = if body.is_empty() { Vec::new() } else { body.split('/').collect() };
        let mut captures = Vec::with_capacity(segments.len());
        let mut tail_id = false;
        let mut node = 0usize;
        for seg in &segments {
            if tail_id {
                return Err(RouteError::TailNotLast { path });
            }
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let (name, tail) = match name.strip_suffix("...") {
                    Some(n) => (n, true),
                    None => (name, false),
                };
                let capture = match (name, tail) {
                    ("org", false) => Capture::Org,
                    ("project", false) => Capture::Project,
                    ("id", _) => Capture::Id,
                    _ => return Err(RouteError::UnknownCapture { path, name: name.to_string() }),
                };
                if captures.contains(&Some(capture)) {
                    return Err(RouteError::RepeatedCapture { path, name: name.to_string() });
                }
                captures.push(Some(capture));
                if tail {
                    tail_id = true;
                    continue;
                }
                node = match self.nodes.get(node).and_then(|n| n.capture) {
                    Some(next) => next,
                    None => self.push_child(node, None).ok_or(RouteError::TailConflict { path: path.clone() })?,
                };
            } else {
                let canonical =
                    !seg.is_empty() && *seg != "." && *seg != ".." && seg.bytes().all(crate::canon::is_plain_path_byte);
                if !canonical {
                    return Err(RouteError::BadSegment { path, segment: (*seg).to_string() });
                }
                captures.push(None);
                node = match self.nodes.get(node).and_then(|n| n.literals.get(seg).copied()) {
                    Some(next) => next,
                    None => self.push_child(node, Some(seg)).ok_or(RouteError::TailConflict { path: path.clone() })?,
                };
            }
        }
        if !captures.contains(&Some(Capture::Org)) {
            return Err(RouteError::NoOrg { path });
        }
        let methods = match &d.methods {
            Some(m) => {
                if let Some((bad, _)) = m.iter().find(|(name, _)| !is_method_token(name)) {
                    return Err(RouteError::BadMethod { path, method: bad.clone() });
                }
                if m.is_empty() {
                    return Err(RouteError::NoMethods { path });
                }
                m.clone()
            }
            None => convention(captures.contains(&Some(Capture::Id))),
        };
        if let Some(pointer) = &d.created_id {
            if !pointer.starts_with('/') {
                return Err(RouteError::CreatedIdNotPointer { path, pointer: pointer.clone() });
            }
            if captures.contains(&Some(Capture::Id)) {
                return Err(RouteError::CreatedIdNoCreate { path, why: "names its resource in {id}" });
            }
            if !methods.iter().any(|(_, v)| *v == Verb::Create) {
                return Err(RouteError::CreatedIdNoCreate { path, why: "maps no method to create" });
            }
        }
        let filter = match &d.filter {
            None => None,
            Some((items, id)) => {
                let pointer = |key, text: &String| {
                    crate::jsonpointer::Pointer::parse(text).map_err(|_| RouteError::FilterNotPointer {
                        path: path.clone(),
                        key,
                        pointer: text.clone(),
                    })
                };
                let filter = ItemFilter { items: pointer("items", items)?, id: pointer("id", id)? };
                if captures.contains(&Some(Capture::Id)) || tail_id {
                    return Err(RouteError::FilterNoList { path, why: "names its resource in {id}" });
                }
                if !methods.iter().any(|(m, v)| m == "GET" && *v == Verb::List) {
                    return Err(RouteError::FilterNoList { path, why: "does not map GET to list" });
                }
                Some(std::sync::Arc::new(filter))
            }
        };
        let index = self.routes.len();
        let Some(n) = self.nodes.get_mut(node) else { return Err(RouteError::NotAbsolute { path }) };
        if tail_id && (n.capture.is_some() || !n.literals.is_empty()) {
            return Err(RouteError::TailConflict { path });
        }
        let slot = if tail_id { &mut n.tail } else { &mut n.route };
        if let Some(other) = *slot {
            let other = self.routes.get(other).map_or_else(String::new, |r| r.path.clone());
            return Err(RouteError::Duplicate { path, other });
        }
        *slot = Some(index);
        self.routes.push(Route {
            path,
            kind: d.kind.clone(),
            upstream: d.upstream.clone(),
            captures,
            tail_id,
            methods,
            created_id: d.created_id.as_deref().map(std::sync::Arc::from),
            filter,
        });
        Ok(())
    }

    /// Adds a child below `parent`; `None` if `parent` is where a tail starts.
    fn push_child(&mut self, parent: usize, literal: Option<&str>) -> Option<usize> {
        let child = self.nodes.len();
        let p = self.nodes.get_mut(parent)?;
        if p.tail.is_some() {
            return None;
        }
        match literal {
            Some(l) => p.literals.insert(l, child),
            None => p.capture = Some(child),
        }
        self.nodes.push(Node::default());
        Some(child)
    }

    /// The target of `method` on the canonical `path`.
    pub fn resolve<'a>(&'a self, method: &str, path: &'a Canonical) -> Result<Target<'a>, NoTarget> {
        let mut node = 0usize;
        let mut tail_from = None;
        let n = path.segment_count();
        for i in 0..n {
            let Some(current) = self.nodes.get(node) else { return Err(NoTarget::NotFound) };
            let seg = path.segment(i).unwrap_or("");
            if let Some(&next) = current.literals.get(seg) {
                node = next;
            } else if let Some(next) = current.capture {
                node = next;
            } else if let Some(route) = current.tail {
                tail_from = Some((route, i));
                break;
            } else {
                return Err(NoTarget::NotFound);
            }
        }
        let (route_index, tail) = match tail_from {
            Some((r, i)) => (r, Some(i)),
            None => (self.nodes.get(node).and_then(|n| n.route).ok_or(NoTarget::NotFound)?, None),
        };
        let route = self.routes.get(route_index).ok_or(NoTarget::NotFound)?;
        let verb = route.verb(method).ok_or_else(|| NoTarget::MethodNotAllowed { allow: route.allow() })?;
        let mut target = Target { route: route_index, org: "", project: None, kind: &route.kind, id: None, verb };
        for (i, c) in route.captures.iter().enumerate() {
            match (c, tail) {
                (Some(Capture::Id), Some(t)) if route.tail_id && i == t => target.id = path.tail(t),
                (Some(Capture::Org), _) => target.org = path.segment(i).unwrap_or(""),
                (Some(Capture::Project), _) => target.project = path.segment(i),
                (Some(Capture::Id), _) => target.id = path.segment(i),
                (None, _) => {}
            }
        }
        Ok(target)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use crate::canon::canonicalise;

    fn decl(path: &str, kind: &str) -> RouteDecl {
        RouteDecl {
            path: path.into(),
            kind: kind.into(),
            methods: None,
            upstream: "platform".into(),
            created_id: None,
            filter: None,
        }
    }

    fn table() -> RouteTable {
        let mut restart = decl("/v1/orgs/{org}/projects/{project}/containers/{id}/restart", "containers");
        restart.methods = Some(vec![("POST".into(), Verb::Update)]);
        RouteTable::compile(&[
            decl("/v1/orgs/{org}/projects/{project}/containers", "containers"),
            decl("/v1/orgs/{org}/projects/{project}/containers/{id}", "containers"),
            restart,
            decl("/v1/orgs/{org}/registries/{id}", "registries"),
            decl("/v1/orgs/{org}/registries", "registries"),
            decl("/v1/orgs/{org}/members/{id}", "members"),
            decl("/v1/orgs/{org}/billing", "billing"),
            decl("/v1/orgs/{org}/projects/{project}/storage/{id...}", "storage"),
            decl("/v1/orgs/{org}/projects/{project}/storage", "storage"),
        ])
        .unwrap()
    }

    /// (org, project, kind, id, verb) of a resolved request.
    type Owned = (String, Option<String>, String, Option<String>, Verb);

    fn resolve(t: &RouteTable, method: &str, raw: &str) -> Result<Owned, NoTarget> {
        let mut c = Canonical::default();
        canonicalise(raw.as_bytes(), &mut c).unwrap();
        t.resolve(method, &c)
            .map(|x| (x.org.into(), x.project.map(Into::into), x.kind.into(), x.id.map(Into::into), x.verb))
    }

    #[test]
    fn rest_convention() {
        let t = table();
        let c = |m, p| resolve(&t, m, p);
        assert_eq!(c("GET", "/v1/orgs/acme/projects/web/containers").unwrap().4, Verb::List);
        assert_eq!(c("POST", "/v1/orgs/acme/projects/web/containers").unwrap().4, Verb::Create);
        let got = c("DELETE", "/v1/orgs/acme/projects/web/containers/c-42").unwrap();
        assert_eq!(got, ("acme".into(), Some("web".into()), "containers".into(), Some("c-42".into()), Verb::Delete));
        assert_eq!(c("PATCH", "/v1/orgs/acme/registries/main").unwrap().4, Verb::Update);
        assert_eq!(c("HEAD", "/v1/orgs/acme/registries/main").unwrap().4, Verb::Read);
        let billing = c("GET", "/v1/orgs/acme/billing").unwrap();
        assert_eq!((billing.2.as_str(), billing.3, billing.4), ("billing", None, Verb::List));
    }

    #[test]
    fn overrides_replace_the_convention() {
        let t = table();
        let got = resolve(&t, "POST", "/v1/orgs/acme/projects/web/containers/c1/restart").unwrap();
        assert_eq!((got.3.as_deref(), got.4), (Some("c1"), Verb::Update));
        assert_eq!(
            resolve(&t, "GET", "/v1/orgs/acme/projects/web/containers/c1/restart").unwrap_err(),
            NoTarget::MethodNotAllowed { allow: "POST".into() }
        );
    }

    #[test]
    fn unmapped_methods_are_405_and_unknown_paths_404() {
        let t = table();
        for m in ["OPTIONS", "FOO", "get", "CONNECT", "TRACE", "POST"] {
            assert!(
                matches!(resolve(&t, m, "/v1/orgs/acme/registries/main"), Err(NoTarget::MethodNotAllowed { .. })),
                "{m}"
            );
        }
        for p in ["/", "/v1", "/v1/orgs/acme", "/v1/orgs/acme/registriesx", "/v1/orgs/acme/registries/main/x", "/admin"]
        {
            assert_eq!(resolve(&t, "GET", p).unwrap_err(), NoTarget::NotFound, "{p}");
        }
    }

    #[test]
    fn tail_ids_are_hierarchical_paths() {
        let t = table();
        let got = resolve(&t, "GET", "/v1/orgs/lab/projects/ml/storage/datasets/imagenet/x%C3%A9y.jpg").unwrap();
        assert_eq!(got.3.as_deref(), Some("/datasets/imagenet/xéy.jpg"));
        assert_eq!(got.4, Verb::Read);
        let coll = resolve(&t, "GET", "/v1/orgs/lab/projects/ml/storage/").unwrap();
        assert_eq!((coll.3, coll.4), (None, Verb::List));
    }

    #[test]
    fn literals_take_precedence_without_backtracking() {
        let t = RouteTable::compile(&[
            decl("/v1/orgs/{org}/members/me", "profile"),
            decl("/v1/orgs/{org}/members/{id}", "members"),
        ])
        .unwrap();
        assert_eq!(resolve(&t, "GET", "/v1/orgs/a/members/me").unwrap().2, "profile");
        assert_eq!(resolve(&t, "GET", "/v1/orgs/a/members/bob").unwrap().2, "members");
    }

    #[test]
    fn bad_patterns_are_all_reported() {
        let errors = RouteTable::compile(&[
            decl("v1/orgs/{org}", "x"),
            decl("/v1/{org}/{tenant}", "x"),
            decl("/v1/{org}/../x", "x"),
            decl("/v1/{org}/files/{id...}/more", "x"),
            decl("/v1/things", "x"),
            decl("/v1/{org}/a", "x"),
            decl("/v1/{org}/a", "y"),
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:?}");
        assert!(matches!(errors[0], RouteError::NotAbsolute { .. }));
        assert!(matches!(errors[1], RouteError::UnknownCapture { .. }));
        assert!(matches!(errors[2], RouteError::BadSegment { .. }));
        assert!(matches!(errors[3], RouteError::TailNotLast { .. }));
        assert!(matches!(errors[4], RouteError::NoOrg { .. }));
        assert!(matches!(errors[5], RouteError::Duplicate { .. }));
        let conflicts =
            RouteTable::compile(&[decl("/v1/{org}/f/{id}", "x"), decl("/v1/{org}/f/{id...}", "x")]).unwrap_err();
        assert!(matches!(conflicts[0], RouteError::TailConflict { .. }), "{conflicts:?}");
        let conflicts =
            RouteTable::compile(&[decl("/v1/{org}/f/{id...}", "x"), decl("/v1/{org}/f/special", "x")]).unwrap_err();
        assert!(matches!(conflicts[0], RouteError::TailConflict { .. }), "{conflicts:?}");
        let mut bad = decl("/v1/{org}/b", "x");
        bad.methods = Some(vec![("post".into(), Verb::Create)]);
        assert!(matches!(RouteTable::compile(&[bad]).unwrap_err()[0], RouteError::BadMethod { .. }));
    }

    #[test]
    fn created_id_is_a_pointer_on_a_collection_that_creates() {
        let pointed = |path: &str, pointer: &str, methods: Option<Vec<(String, Verb)>>| {
            let mut d = decl(path, "x");
            d.created_id = Some(pointer.into());
            d.methods = methods;
            RouteTable::compile(&[d])
        };
        let table = pointed("/v1/{org}/things", "/data/id", None).unwrap();
        assert_eq!(table.routes()[0].created_id.as_deref(), Some("/data/id"));
        let e = pointed("/v1/{org}/things", "id", None).unwrap_err();
        assert!(e[0].to_string().contains("start it with '/'"), "{e:?}");
        let e = pointed("/v1/{org}/things/{id}", "/id", None).unwrap_err();
        assert!(e[0].to_string().contains("names its resource in {id}"), "{e:?}");
        let e = pointed("/v1/{org}/things", "/id", Some(vec![("GET".into(), Verb::List)])).unwrap_err();
        assert!(e[0].to_string().contains("maps no method to create"), "{e:?}");
    }

    #[test]
    fn filter_is_two_pointers_on_a_collection_listed_by_get() {
        let filtered = |path: &str, items: &str, methods: Option<Vec<(String, Verb)>>| {
            let mut d = decl(path, "x");
            d.filter = Some((items.into(), "/id".into()));
            d.methods = methods;
            RouteTable::compile(&[d])
        };
        let table = filtered("/v1/{org}/things", "/data/items", None).unwrap();
        assert_eq!(table.routes()[0].filter.as_ref().map(|f| f.items.as_str()), Some("/data/items"));
        assert!(filtered("/v1/{org}/things", "", None).is_ok(), "the whole answer may be the array");
        let e = filtered("/v1/{org}/things", "items", None).unwrap_err();
        assert!(e[0].to_string().contains("filter.items 'items' is not a JSON pointer"), "{e:?}");
        let e = filtered("/v1/{org}/things/{id}", "/items", None).unwrap_err();
        assert!(e[0].to_string().contains("names its resource in {id}"), "{e:?}");
        let e = filtered("/v1/{org}/things", "/items", Some(vec![("GET".into(), Verb::Read)])).unwrap_err();
        assert!(e[0].to_string().contains("does not map GET to list"), "{e:?}");
    }
}
