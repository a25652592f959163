//! The admin API: JSON over HTTP on its own listener (`[admin] listen`), served by the same
//! binary as the gateway. `openapi.json` at the top of the repository describes every
//! endpoint; `GET /v1/openapi.json` serves it.
//!
//! Callers authenticate like gateway clients (`Authorization: Bearer` with a JWT or a
//! service account's API token) and are authorised by the model they manage
//! ([`crate::manage`]). Every write answers with the org revision it produced, in the body
//! and in `Portcullis-Revision`; send that header to the gateway to read your write on any
//! replica. Bodies are at most [`MAX_BODY`] bytes of JSON; unknown fields and wrong types are
//! refused with a 400 that names the field, and nothing is written.

use std::sync::Arc;

use http::{Method, Response, StatusCode};

use crate::auth::Verifier;
use crate::control::{AdminError, ControlPlane, Filter, Listing, RequestError, Written};
use crate::edit::{Edit, EditError};
use crate::manage::Refusal;
use crate::policy::parse_share_verbs;
use crate::principal::{Caller, Identity};
use crate::transfer::TransferError;

mod access;
mod body;
mod query;

#[doc(hidden)]
pub use body::parse_as_every_body;
use body::{
    ApplyBody, BindingBody, ExplainBody, NewMember, NewOrg, NewProject, NewRole, NewTeam, ProjectChange, RequestBody,
    RolePermissions, ShareBody, TeamMembers, TransferBody, bad_body, body, permissions,
};
use query::{Query, list_limit, page, segment_ok};

/// The largest request body the admin API reads.
pub const MAX_BODY: usize = 64 * 1024;

/// The largest body of `POST /v1/orgs/{org}/apply`: a whole org's policy file.
pub const MAX_APPLY_BODY: usize = 4 * 1024 * 1024;

/// The header that carries an org revision: in the answer to a write, and in a gateway
/// request that must see at least that revision.
pub use crate::gateway::pipeline::REVISION_HEADER;

/// The OpenAPI document, as checked in.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The admin API's HTTP application.
pub struct AdminApi {
    pub control: Arc<ControlPlane>,
    pub verifier: Option<Arc<Verifier>>,
    pub observed: Observed,
    /// The web console under `/console`, which signs its users in by cookie.
    pub console: crate::console::Console,
}

/// What `/metrics` and `/readyz` read: the gateway's counters, its upstreams and its policy.
pub struct Observed {
    pub config: Arc<crate::config::Config>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub upstreams: Arc<Vec<std::sync::Arc<crate::gateway::upstream::UpstreamGroup>>>,
    pub policy: Arc<crate::reload::LivePolicy>,
}

impl AdminApi {
    /// Why the gateway is not ready, if it is not: no valid policy, no key that could verify
    /// a token, or an upstream without a healthy backend.
    pub fn not_ready(&self) -> Vec<String> {
        let mut why = Vec::new();
        if !self.observed.policy.is_ready() {
            why.push("no valid policy is loaded".to_string());
        }
        if !self.verifier.as_ref().is_some_and(|v| v.has_keys()) {
            why.push("no key can verify a token ([auth] has none, or the JWKS has not loaded)".to_string());
        }
        for u in self.observed.upstreams.iter() {
            if !u.health().iter().any(|(_, healthy)| *healthy) {
                why.push(format!("upstream '{}' has no healthy backend", u.name));
            }
        }
        why
    }

    /// Everything `/metrics` exposes, in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        use crate::metrics::single;
        let mut out = String::new();
        self.observed.metrics.write(&mut out);
        let policy = &self.observed.policy;
        let (reloads, failures) = policy.reload_counts();
        single(
            &mut out,
            "portcullis_snapshot_generation",
            "gauge",
            "Snapshots this replica has published (reloads and org updates); an org's revision is what its writes return.",
            policy.handle().load().generation(),
        );
        single(&mut out, "portcullis_ready", "gauge", "1 when a valid policy is loaded.", u8::from(policy.is_ready()));
        single(&mut out, "portcullis_reloads_total", "counter", "Policy reloads that were published.", reloads);
        single(
            &mut out,
            "portcullis_reload_failures_total",
            "counter",
            "Policy reloads rejected (the last good policy kept serving).",
            failures,
        );
        single(
            &mut out,
            "portcullis_last_reload_timestamp_seconds",
            "gauge",
            "When a policy was last published (start or reload).",
            policy.last_published(),
        );
        if let Some(v) = &self.verifier {
            let (hits, misses) = v.cache_stats();
            single(&mut out, "portcullis_token_cache_hits_total", "counter", "Verified-token cache hits.", hits);
            single(&mut out, "portcullis_token_cache_misses_total", "counter", "Verified-token cache misses.", misses);
            if let Some((fetches, failures)) = v.jwks_counts() {
                single(&mut out, "portcullis_jwks_fetches_total", "counter", "Fetches of the JWKS URL.", fetches);
                single(
                    &mut out,
                    "portcullis_jwks_fetch_failures_total",
                    "counter",
                    "Fetches of the JWKS URL that failed (the last good key set kept serving).",
                    failures,
                );
            }
        }
        out.push_str("# HELP portcullis_backend_healthy 1 if the backend passes its health check.\n# TYPE portcullis_backend_healthy gauge\n");
        for u in self.observed.upstreams.iter() {
            for (addr, healthy) in u.health() {
                out.push_str(&format!(
                    "portcullis_backend_healthy{{upstream=\"{}\",backend=\"{}\"}} {}\n",
                    crate::metrics::escape(&u.name),
                    crate::metrics::escape(&addr),
                    u8::from(healthy)
                ));
            }
        }
        out
    }
}

/// A finished answer: status and JSON body, and the revision a write produced.
struct Answer {
    status: StatusCode,
    body: serde_json::Value,
    revision: Option<u64>,
}

impl Answer {
    fn ok(body: serde_json::Value) -> Answer {
        Answer { status: StatusCode::OK, body, revision: None }
    }

    fn written(status: StatusCode, w: Written) -> Answer {
        Answer { status, body: serde_json::json!({ "revision": w.revision }), revision: Some(w.revision) }
    }

    fn error(status: StatusCode, message: impl std::fmt::Display) -> Answer {
        Answer { status, body: serde_json::json!({ "error": message.to_string() }), revision: None }
    }
}

/// Maps a refusal to its status: what is not there is 404, what is not allowed 403, what
/// clashes with the current state 409, what would break the model 422, a store that cannot
/// be reached 503.
fn answer_error(e: &AdminError) -> Answer {
    let status = match e {
        AdminError::Refused(Refusal::UnknownOrg { .. }) | AdminError::UnknownOrg { .. } => StatusCode::NOT_FOUND,
        AdminError::Refused(Refusal::NotAMember { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::Refused(_)
        | AdminError::StepRefused { .. }
        | AdminError::NotOperator { .. }
        | AdminError::Forbidden { .. } => StatusCode::FORBIDDEN,
        AdminError::Edit(EditError::NotFound { .. }) | AdminError::NoTransfer { .. } => StatusCode::NOT_FOUND,
        AdminError::Edit(EditError::UnknownRole { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::Edit(_) | AdminError::FileOwned { .. } => StatusCode::CONFLICT,
        AdminError::Transfer(TransferError::NotOwner { .. } | TransferError::NotAParty { .. }) => StatusCode::FORBIDDEN,
        AdminError::Transfer(_) => StatusCode::CONFLICT,
        AdminError::Request(RequestError::NotFound { .. }) => StatusCode::NOT_FOUND,
        AdminError::Request(RequestError::Closed { .. }) => StatusCode::CONFLICT,
        AdminError::Request(RequestError::TooMany { .. }) => StatusCode::TOO_MANY_REQUESTS,
        AdminError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::BadQuery { .. } => StatusCode::BAD_REQUEST,
        AdminError::StoredInvalid { .. } => StatusCode::CONFLICT,
        AdminError::Store(_) | AdminError::Busy { .. } | AdminError::Random(_) | AdminError::Import(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let mut answer = Answer::error(status, e);
    // The problems one by one, each with the request field it is about.
    if let AdminError::Invalid { problems, .. } = e {
        let list: Vec<serde_json::Value> =
            problems.0.iter().map(|p| serde_json::json!({ "field": p.field, "message": p.message })).collect();
        if let Some(fields) = answer.body.as_object_mut() {
            fields.insert("problems".into(), list.into());
        }
    }
    answer
}

impl AdminApi {
    async fn handle(&self, method: &Method, path: &str, query: &str, actor: &Identity, bytes: &[u8]) -> Answer {
        match self.route(method, path, query, actor, bytes).await {
            Ok(a) | Err(a) => a,
        }
    }

    async fn route(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        actor: &Identity,
        bytes: &[u8],
    ) -> Result<Answer, Answer> {
        let c = &self.control;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let Some(bad) = segments.iter().skip(2).find(|s| !segment_ok(s)) {
            return Err(Answer::error(StatusCode::BAD_REQUEST, format!("'{bad}' is not a valid id in a path")));
        }
        let no_query = |q: &str| -> Result<(), Answer> { Query::parse(q, &[]).map(|_| ()) };
        let e = |r: Result<Written, AdminError>, status: StatusCode| match r {
            Ok(w) => Ok(Answer::written(status, w)),
            Err(e) => Err(answer_error(&e)),
        };
        let edit = |org: &str, edit: Edit| {
            let detail = String::from_utf8_lossy(bytes).into_owned();
            let org = org.to_string();
            async move { c.edit(&org, actor, &edit, &detail).await }
        };
        use StatusCode as S;
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "explain"]) => {
                no_query(query)?;
                if !c.is_operator(actor) {
                    return Err(Answer::error(
                        S::FORBIDDEN,
                        format!(
                            "only a platform operator ([admin] operators) may explain requests; '{actor}' is not one"
                        ),
                    ));
                }
                let b: ExplainBody = body(bytes)?;
                let headers = crate::dryrun::headers(b.token.as_deref(), &b.headers)
                    .map_err(|e| Answer::error(S::BAD_REQUEST, format!("headers: {e}")))?;
                let pipeline = crate::gateway::pipeline::Pipeline::new(
                    &self.observed.config,
                    self.observed.policy.clone(),
                    self.verifier.clone(),
                )
                .explaining(crate::gateway::pipeline::Explaining::Always);
                let run = crate::dryrun::dry_run(&pipeline, &b.method, &b.path, &headers);
                Ok(Answer::ok(to_json(&run)?))
            }
            ("POST", ["v1", "orgs"]) => {
                no_query(query)?;
                let b: NewOrg = body(bytes)?;
                e(c.create_org(actor, &b.id, &b.owner).await, S::CREATED)
            }
            ("GET", ["v1", "orgs", org]) => {
                no_query(query)?;
                let o = c.org(org, actor).await.map_err(|e| answer_error(&e))?;
                Ok(Answer {
                    status: S::OK,
                    body: serde_json::json!({ "id": o.id, "revision": o.revision, "policy": o.policy, "transfer": o.transfer }),
                    revision: Some(o.revision),
                })
            }
            ("POST", ["v1", "orgs", org, "apply"]) => {
                no_query(query)?;
                let b: ApplyBody = body(bytes)?;
                let file = b.file.as_deref().unwrap_or("policy");
                let applied =
                    c.apply_org(org, actor, file, &b.policy, b.dry_run).await.map_err(|e| answer_error(&e))?;
                let revision = applied.written.then_some(applied.revision);
                Ok(Answer { status: S::OK, body: to_json(&applied)?, revision })
            }
            ("POST", ["v1", "orgs", org, "members"]) => {
                let b: NewMember = body(bytes)?;
                e(edit(org, Edit::InviteMember { id: b.id }).await, S::CREATED)
            }
            ("POST", ["v1", "orgs", org, "service-accounts"]) => {
                let b: NewMember = body(bytes)?;
                e(edit(org, Edit::CreateServiceAccount { id: b.id }).await, S::CREATED)
            }
            ("POST", ["v1", "orgs", org, "service-accounts", account, "tokens"]) => {
                no_query(query)?;
                let issued = c.issue_token(org, actor, account).await.map_err(|e| answer_error(&e))?;
                Ok(Answer { status: S::CREATED, revision: Some(issued.revision), body: to_json(&issued)? })
            }
            ("GET", ["v1", "orgs", org, "service-accounts", account, "tokens"]) => {
                let list = c.list_tokens(org, actor, account).await.map_err(|e| answer_error(&e))?;
                Ok(Answer::ok(serde_json::json!({ "tokens": list })))
            }
            ("DELETE", ["v1", "orgs", org, "service-accounts", account, "tokens", id]) => {
                e(c.revoke_token(org, actor, account, id).await, S::OK)
            }
            ("DELETE", ["v1", "orgs", org, "members", id]) => {
                e(edit(org, Edit::RemoveMember { id: (*id).into() }).await, S::OK)
            }
            ("POST", ["v1", "orgs", org, "teams"]) => {
                let b: NewTeam = body(bytes)?;
                e(edit(org, Edit::CreateTeam { name: b.name, members: b.members }).await, S::CREATED)
            }
            ("PUT", ["v1", "orgs", org, "teams", name]) => {
                let b: TeamMembers = body(bytes)?;
                e(edit(org, Edit::UpdateTeam { name: (*name).into(), members: b.members }).await, S::OK)
            }
            ("DELETE", ["v1", "orgs", org, "teams", name]) => {
                e(edit(org, Edit::DeleteTeam { name: (*name).into() }).await, S::OK)
            }
            ("POST", ["v1", "orgs", org, "projects"]) => {
                let b: NewProject = body(bytes)?;
                e(edit(org, Edit::CreateProject { id: b.id, restricted: b.restricted }).await, S::CREATED)
            }
            ("PUT", ["v1", "orgs", org, "projects", id]) => {
                let b: ProjectChange = body(bytes)?;
                e(edit(org, Edit::UpdateProject { id: (*id).into(), restricted: b.restricted }).await, S::OK)
            }
            ("DELETE", ["v1", "orgs", org, "projects", id]) => {
                e(edit(org, Edit::DeleteProject { id: (*id).into() }).await, S::OK)
            }
            ("POST", ["v1", "orgs", org, "roles"]) => {
                let b: NewRole = body(bytes)?;
                let permissions = permissions(&b.permissions)?;
                e(edit(org, Edit::CreateRole { name: b.name, permissions }).await, S::CREATED)
            }
            ("PUT", ["v1", "orgs", org, "roles", name]) => {
                let b: RolePermissions = body(bytes)?;
                let permissions = permissions(&b.permissions)?;
                e(edit(org, Edit::UpdateRole { name: (*name).into(), permissions }).await, S::OK)
            }
            ("DELETE", ["v1", "orgs", org, "roles", name]) => {
                e(edit(org, Edit::DeleteRole { name: (*name).into() }).await, S::OK)
            }
            ("POST", ["v1", "orgs", org, "bindings"]) => {
                let b: BindingBody = body(bytes)?;
                let expires_at = body::expires_at(b.expires_at.as_deref(), crate::instant::now())?;
                let bind = Edit::Bind { subject: b.subject, role: b.role, project: b.project, expires_at };
                e(edit(org, bind).await, S::CREATED)
            }
            ("DELETE", ["v1", "orgs", org, "bindings"]) => {
                let q = Query::parse(query, &["subject", "role", "project"])?;
                let unbind = Edit::Unbind {
                    subject: q.required("subject")?.into(),
                    role: q.required("role")?.into(),
                    project: q.get("project").map(Into::into),
                };
                e(edit(org, unbind).await, S::OK)
            }
            ("POST", ["v1", "orgs", org, "shares"]) => {
                let b: ShareBody = body(bytes)?;
                let now = crate::instant::now();
                let expires_at = body::expires_at(b.expires_at.as_deref(), now)?;
                let verbs = parse_share_verbs(&b.verbs).map_err(|k| bad_body(format!("field `verbs`: {k}")))?;
                if verbs.is_empty() {
                    return Err(bad_body("field `verbs`: give at least one verb"));
                }
                let share = Edit::Share {
                    subject: b.subject,
                    kind: b.kind,
                    project: b.project,
                    id: b.id,
                    verbs,
                    // `edit` refuses anyone who is not a member before this is read.
                    granted_by: actor.member_id_in(org).unwrap_or_default().into(),
                    granted_at: now,
                    expires_at,
                };
                e(edit(org, share).await, S::CREATED)
            }
            ("GET", ["v1", "orgs", org, "shares"]) => {
                let q = Query::parse(query, &["kind", "project", "id"])?;
                let list = c
                    .shares(org, actor, q.required("kind")?, q.get("project"), q.required("id")?)
                    .await
                    .map_err(|e| answer_error(&e))?;
                Ok(Answer::ok(to_json(&list)?))
            }
            ("GET", ["v1", "orgs", org, "access"]) => access::review(c, org, actor, query),
            ("GET", ["v1", "orgs", org, "access", "principals", p]) => access::reach(c, org, p, actor, query),
            ("DELETE", ["v1", "orgs", org, "shares"]) => {
                let q = Query::parse(query, &["subject", "kind", "project", "id"])?;
                let revoke = Edit::RevokeShare {
                    subject: q.required("subject")?.into(),
                    kind: q.required("kind")?.into(),
                    project: q.get("project").map(Into::into),
                    id: q.required("id")?.into(),
                };
                e(edit(org, revoke).await, S::OK)
            }
            ("GET", ["v1", "orgs", org, "acl"]) => {
                let q = Query::parse(query, &["principal", "kind", "shared"])?;
                let principal = q
                    .get("principal")
                    .map(Caller::parse)
                    .transpose()
                    .map_err(|e| Answer::error(S::BAD_REQUEST, format!("query parameter `principal`: {e}")))?;
                let shared = q.flag("shared")?;
                let list = c.acl(org, actor, principal, q.get("kind"), shared).await.map_err(|e| answer_error(&e))?;
                let principal = principal.map_or_else(|| actor.to_string(), |p| p.to_string());
                Ok(Answer::ok(serde_json::json!({ "principal": principal, "access": list })))
            }
            ("POST", ["v1", "orgs", org, "transfer"]) => {
                let b: TransferBody = body(bytes)?;
                e(c.start_transfer(org, actor, &b.to, &b.step_down_to).await, S::CREATED)
            }
            ("GET", ["v1", "orgs", org, "transfer"]) => {
                let t = c.transfer(org, actor).await.map_err(|e| answer_error(&e))?;
                Ok(Answer::ok(serde_json::json!({ "transfer": t })))
            }
            ("POST", ["v1", "orgs", org, "transfer", "confirm"]) => e(c.confirm_transfer(org, actor).await, S::OK),
            ("DELETE", ["v1", "orgs", org, "transfer"]) => e(c.cancel_transfer(org, actor).await, S::OK),
            ("GET", ["v1", "orgs", org, "audit"]) => {
                let (after, limit) = page(query)?;
                let entries = c.audit(org, actor, after, limit).await.map_err(|e| answer_error(&e))?;
                Ok(Answer::ok(serde_json::json!({ "entries": entries })))
            }
            ("GET", ["v1", "orgs", org, "audit", "refused"]) => {
                let (after, limit) = page(query)?;
                let refused = c.refusals(org, actor, after, limit).await.map_err(|e| answer_error(&e))?;
                Ok(Answer::ok(serde_json::json!({ "refused": refused })))
            }
            ("POST", ["v1", "orgs", org, "access-requests"]) => {
                let b: RequestBody = body(bytes)?;
                let (asked, duration, reason) = b.checked()?;
                let request =
                    c.request_access(org, actor, asked, duration, &reason).await.map_err(|e| answer_error(&e))?;
                Ok(Answer { status: S::CREATED, body: to_json(&request)?, revision: None })
            }
            ("GET", ["v1", "orgs", org, "access-requests"]) => {
                let q = Query::parse(query, &["approvable"])?;
                let approvable = q.flag("approvable")?;
                let list = c.access_requests(org, actor, approvable).await.map_err(|e| answer_error(&e))?;
                Ok(Answer::ok(serde_json::json!({ "access_requests": list })))
            }
            ("POST", ["v1", "orgs", org, "access-requests", id, "approve"]) => {
                no_query(query)?;
                e(c.approve_request(org, actor, id).await, S::OK)
            }
            ("POST", ["v1", "orgs", org, "access-requests", id, "deny"]) => {
                no_query(query)?;
                c.deny_request(org, actor, id).await.map_err(|e| answer_error(&e))?;
                Ok(Answer::ok(serde_json::json!({ "id": id, "state": "denied" })))
            }
            ("GET", ["v1", "orgs"]) => {
                let q = Query::parse(query, &["after", "limit"])?;
                let limit = list_limit(&q)?;
                let (orgs, next) = c.orgs_of(actor, q.get("after"), limit);
                Ok(Answer::ok(serde_json::json!({ "orgs": orgs, "next": next })))
            }
            ("GET", ["v1", "orgs", org, what]) if Listing::parse(what).is_some() => {
                let listing = Listing::parse(what).ok_or_else(|| Answer::error(S::NOT_FOUND, "no such list"))?;
                let allowed: &[&str] = if listing == Listing::Bindings {
                    &["after", "limit", "project", "subject"]
                } else {
                    &["after", "limit"]
                };
                let q = Query::parse(query, allowed)?;
                let filter = Filter { project: q.get("project"), subject: q.get("subject") };
                let page = c
                    .list(org, actor, listing, &filter, q.get("after"), list_limit(&q)?)
                    .map_err(|e| answer_error(&e))?;
                Ok(Answer::ok(serde_json::json!({ *what: page.items, "next": page.next })))
            }
            (_, ["v1", "orgs", ..]) => Err(Answer::error(
                S::NOT_FOUND,
                format!("no admin endpoint {} {path}; see GET /v1/openapi.json", method.as_str()),
            )),
            _ => Err(Answer::error(S::NOT_FOUND, format!("no admin endpoint {path}; see GET /v1/openapi.json"))),
        }
    }
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>, revision: Option<u64>) -> Response<Vec<u8>> {
    let mut r = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store");
    if let Some(rev) = revision {
        r = r.header(REVISION_HEADER, rev);
    }
    r.body(body).unwrap_or_else(|e| internal_error(&e))
}

/// The 500 for an answer that could not be built: never an empty 200.
fn internal_error(e: &dyn std::fmt::Display) -> Response<Vec<u8>> {
    eprintln!("portcullis: admin API: an answer could not be built: {e}");
    let mut r = Response::new(b"{\"error\":\"internal error: the answer could not be built\"}\n".to_vec());
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

/// A value as JSON, or the 500 that says it could not be.
fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value, Answer> {
    serde_json::to_value(value)
        .map_err(|e| Answer::error(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}")))
}

fn json(a: Answer) -> Response<Vec<u8>> {
    let body = format!("{}\n", a.body).into_bytes();
    respond(a.status, "application/json", body, a.revision)
}

impl crate::serve::App for AdminApi {
    async fn call(&self, request: http::Request<hyper::body::Incoming>) -> Response<Vec<u8>> {
        let (head, body) = request.into_parts();
        let method = head.method.clone();
        let path = head.uri.path().to_string();
        let query = head.uri.query().unwrap_or("").to_string();
        let auth = head.headers.get(http::header::AUTHORIZATION).map(|v| v.as_bytes().to_vec());
        let declared = head
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if path == "/healthz" {
            return json(Answer::ok(serde_json::json!({ "status": "ok" })));
        }
        if path == "/readyz" {
            let why = self.not_ready();
            return if why.is_empty() {
                json(Answer::ok(serde_json::json!({ "status": "ready" })))
            } else {
                json(Answer {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    body: serde_json::json!({ "status": "not ready", "why": why }),
                    revision: None,
                })
            };
        }
        if path == "/metrics" && method == Method::GET {
            let text = self.metrics_text().into_bytes();
            return respond(StatusCode::OK, "text/plain; version=0.0.4", text, None);
        }
        if path == "/v1/openapi.json" && method == Method::GET {
            return respond(StatusCode::OK, "application/json", OPENAPI.as_bytes().to_vec(), None);
        }
        if crate::console::Console::serves(&path) {
            return self.console.call(&head, body).await;
        }
        // Authenticate before reading anything more of the request.
        let principal = match &self.verifier {
            Some(v) => v.verify_header(auth.as_deref()),
            None => Err(crate::auth::AuthError::Missing),
        };
        let principal = match principal {
            Ok(p) => p,
            Err(e) => {
                let mut r = json(Answer::error(StatusCode::UNAUTHORIZED, &e));
                if let Ok(v) = http::HeaderValue::from_str(&e.www_authenticate()) {
                    r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
                }
                return r;
            }
        };
        let limit = if path.ends_with("/apply") { MAX_APPLY_BODY } else { MAX_BODY };
        let too_large = || {
            json(Answer::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {limit} bytes, the admin API's limit"),
            ))
        };
        if declared.is_some_and(|n| n > limit) {
            return too_large();
        }
        use http_body_util::BodyExt as _;
        let bytes = match http_body_util::Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
            Err(e) => return json(Answer::error(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}"))),
        };
        json(self.handle(&method, &path, &query, &principal.identity, &bytes).await)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn an_answer_that_cannot_be_built_is_a_500_never_an_empty_200() {
        let r = respond(StatusCode::OK, "text/plain\nx-injected: 1", b"fine".to_vec(), None);
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(String::from_utf8(r.body().clone()).unwrap().contains("internal error"));
        struct Unserializable;
        impl serde::Serialize for Unserializable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let Err(answer) = to_json(&Unserializable) else { panic!("serialised") };
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
