//! One request's way from its head to a verdict, with no sockets: admit, canonicalise,
//! route, authenticate, decide.
//!
//! The gateway runs it on every request, and `portcullis explain` and `POST /v1/explain`
//! run the very same function on a head they are given, so what they answer is what the
//! gateway does (a test holds them to it on every security case and conformance check).
//!
//! Rejections: 400 for an ambiguous target, framing or Host, or two credentials; 401 (with
//! `WWW-Authenticate`) without a verified token; 403 for a denial; 404 for no route; 405
//! (with `Allow`) for an unmapped method; a `GET` of a collection whose route has a
//! `filter` is forwarded, not refused, for a caller who may read some of its items (see
//! [`super::filter`]); 413 and 431 over the limits; 503 before any valid
//! policy has loaded, or when a named revision is not reached in time.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::admit::{Wire, admit};
use crate::auth::{AuthError, Principal, Verifier, query_has_token};
use crate::canon::{Canonical, canonicalise_with_limit};
use crate::config::{Config, Limits};
use crate::decide::decide;
use crate::decisions::{Disagreement, Policy as LogPolicy, Record};
use crate::explain::explain;
use crate::metrics::{Decided, Metrics};
use crate::model::Verb;
use crate::reload::LivePolicy;
use crate::route::NoTarget;

use super::filter::Filtering;

/// The header a client sends to be decided against at least that revision of the org (the
/// revision an admin write answered with): read your writes.
pub const REVISION_HEADER: &str = "portcullis-revision";

/// A request head as the pipeline sees it: what the HTTP library parsed, and what only the
/// bytes on the wire showed.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    pub method: &'a str,
    /// The request target exactly as sent.
    pub target: &'a [u8],
    pub headers: &'a http::HeaderMap,
    pub wire: Wire,
}

/// How much of its reasoning the pipeline writes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Explaining {
    /// Nothing beyond the status (a gateway with `explain_denials = false`).
    Never,
    /// The reason for a denial, for the client.
    Denials,
    /// The reason for every decision (explain).
    Always,
}

/// What the pipeline found on its way; one per request, reused across the steps.
#[derive(Debug, Default)]
pub struct Passage {
    /// The canonical target; valid when `canonical_ok`.
    pub canonical: Canonical,
    pub canonical_ok: bool,
    /// The route that matched, its upstream group and its metrics slot (in the snapshot the
    /// request was decided with).
    pub route: Option<usize>,
    pub upstream: usize,
    pub metric: Option<usize>,
    pub principal: Option<Arc<Principal>>,
    /// The org of the resource, once routed.
    pub org: String,
    /// The Host in canonical form when it differs from the one sent.
    pub host: Option<String>,
    pub decided: Decided,
    /// Why it was allowed or denied, when asked for (see [`Explaining`]).
    pub reason: Option<String>,
    /// The decision line to write when the request ends, if this one is logged.
    pub record: Option<Box<Record>>,
    /// An allowed create or delete, when creators are recorded: what to record once the
    /// upstream has answered.
    pub creation: Option<Box<Creation>>,
    /// A collection answer to filter to the items the caller may read.
    pub filtering: Option<Box<Filtering>>,
}

/// An allowed create or delete of a resource, waiting for the upstream's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creation {
    pub org: String,
    pub kind: String,
    pub project: Option<String>,
    /// The resource the request named; `None` for a create on a collection (the answer
    /// says which).
    pub id: Option<String>,
    pub deleted: bool,
    /// Who asked, as a member of `org`.
    pub member: String,
    /// Where in a JSON answer the new id is, when the route says (`created_id`); else the
    /// answer's `Location` names it.
    pub created_id: Option<Arc<str>>,
}

/// A refusal: the status, the error and optional reason for the JSON body, one extra header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub error: Cow<'static, str>,
    pub reason: Option<String>,
    pub header: Option<(&'static str, String)>,
    /// Whatever follows this head on the connection must not be read as a request.
    pub close: bool,
}

impl Rejection {
    fn new(status: u16, error: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection { status, error: error.into(), reason: None, header: None, close: false }
    }

    fn reason(mut self, reason: impl Into<String>) -> Rejection {
        self.reason = Some(reason.into());
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Rejection {
        self.header = Some((name, value.into()));
        self
    }
}

/// What to do with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward the canonical target to the route's upstream.
    Forward,
    Reject(Rejection),
    /// The caller, a member of the org, named a revision this replica has not published:
    /// wait for it (bounded by `revision_wait`), then run the pipeline again.
    Await {
        revision: u64,
    },
}

/// The steps and everything they decide with.
pub struct Pipeline {
    policy: Arc<LivePolicy>,
    verifier: Option<Arc<Verifier>>,
    limits: Limits,
    explaining: Explaining,
    revision_wait: Duration,
    decision_log: LogPolicy,
    /// The candidate policy of shadow mode: decided, compared, never enforced.
    candidate: Option<Arc<LivePolicy>>,
    metrics: Option<Arc<Metrics>>,
    /// Where allowed creates and deletes go once answered (with a control plane).
    recorder: Option<crate::control::Recorder>,
}

impl Pipeline {
    /// The pipeline of `config`'s gateway over `policy`: no metrics, no decision log, no
    /// shadow (add them with [`observed`](Self::observed) and
    /// [`shadowed_by`](Self::shadowed_by)).
    pub fn new(config: &Config, policy: Arc<LivePolicy>, verifier: Option<Arc<Verifier>>) -> Pipeline {
        Pipeline {
            policy,
            verifier,
            limits: config.limits.clone(),
            explaining: if config.gateway.explain_denials { Explaining::Denials } else { Explaining::Never },
            revision_wait: config.admin.as_ref().map_or(Duration::from_secs(2), |a| a.revision_wait),
            decision_log: LogPolicy::OFF,
            candidate: None,
            metrics: None,
            recorder: None,
        }
    }

    pub fn explaining(mut self, explaining: Explaining) -> Pipeline {
        self.explaining = explaining;
        self
    }

    /// Records decision latency in `metrics`, and logs decisions as `config`'s `[log]` says.
    pub fn observed(mut self, config: &Config, metrics: Arc<Metrics>) -> Pipeline {
        self.metrics = Some(metrics);
        self.decision_log = LogPolicy::from_spec(config.log.as_ref());
        self
    }

    /// Records the creator of each resource an allowed create makes, and forgets it when an
    /// allowed delete succeeds (see [`super::creators`]).
    pub fn recording(mut self, recorder: crate::control::Recorder) -> Pipeline {
        self.recorder = Some(recorder);
        self
    }

    pub fn recorder(&self) -> Option<&crate::control::Recorder> {
        self.recorder.as_ref()
    }

    /// Decides every request against `candidate` too, and reports where it disagrees.
    pub fn shadowed_by(mut self, candidate: Arc<LivePolicy>) -> Pipeline {
        self.candidate = Some(candidate);
        self
    }

    pub fn policy(&self) -> &Arc<LivePolicy> {
        &self.policy
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How long a request naming a revision may wait for it.
    pub fn revision_wait(&self) -> Duration {
        self.revision_wait
    }

    /// Runs the steps on `head`, writing what they find into `passage`. `may_wait`: a
    /// revision not reached yet is answered `Await` (else 503).
    pub fn verdict(&self, head: &Head<'_>, request_id: u64, passage: &mut Passage, may_wait: bool) -> Verdict {
        match self.steps(head, request_id, passage, may_wait) {
            Ok(verdict) => verdict,
            Err(rejection) => Verdict::Reject(rejection),
        }
    }

    fn steps(
        &self,
        head: &Head<'_>,
        request_id: u64,
        passage: &mut Passage,
        may_wait: bool,
    ) -> Result<Verdict, Rejection> {
        // 0. Admit the head: sizes, framing, Host.
        match admit(head.headers, &head.wire, &self.limits) {
            Ok(admitted) => passage.host = admitted.host,
            Err(refused) => {
                let mut rejection = Rejection::new(refused.status(), refused.to_string());
                rejection.close = true;
                return Err(rejection);
            }
        }
        if !self.policy.is_ready() {
            let reason = "no valid policy is loaded yet; fix the policies folder (see the gateway's log)";
            return Err(Rejection::new(503, "not ready").reason(reason).header("retry-after", "5"));
        }
        // One load of the live snapshot: its routes and its policies decide together.
        let snapshot = self.policy.handle().load();
        let Some(routes) = snapshot.routes() else {
            let reason = "no route table is loaded; the gateway publishes its config's [[route]] tables at start";
            return Err(Rejection::new(503, "not ready").reason(reason).header("retry-after", "5"));
        };

        // 1. Canonicalise the target once; only this form is used from here on.
        canonicalise_with_limit(head.target, self.limits.max_target_bytes, &mut passage.canonical)
            .map_err(|e| Rejection::new(400, "bad request target").reason(e.to_string()))?;
        passage.canonical_ok = true;

        // 2. Route.
        let target = match routes.table.resolve(head.method, &passage.canonical) {
            Ok(t) => t,
            Err(NoTarget::NotFound) => return Err(Rejection::new(404, "no such route")),
            Err(NoTarget::MethodNotAllowed { allow }) => {
                return Err(Rejection::new(405, "method not allowed").header("allow", allow));
            }
        };
        passage.route = Some(target.route);
        passage.upstream = routes.upstream.get(target.route).copied().unwrap_or(usize::MAX);
        passage.metric = routes.metric.get(target.route).copied();

        // 3. Authenticate: exactly one credential.
        if passage.canonical.query().is_some_and(query_has_token) {
            let error = "a token in the query is not accepted; send it only in the Authorization header";
            return Err(Rejection::new(400, error));
        }
        let mut values = head.headers.get_all(http::header::AUTHORIZATION).iter();
        let first = values.next().map(|v| v.as_bytes());
        if values.next().is_some() {
            return Err(Rejection::new(400, "more than one Authorization header"));
        }
        let verified = match &self.verifier {
            Some(v) => v.verify_header(first),
            None => Err(AuthError::UnknownKey { kid: "(no keys configured)".into() }),
        };
        let principal = verified.map_err(|e| {
            let www = e.www_authenticate();
            let reason = (self.explaining == Explaining::Always).then(|| e.to_string());
            Rejection { reason, ..Rejection::new(401, "unauthenticated").header("www-authenticate", www) }
        })?;
        passage.principal = Some(principal.clone());

        // Read your writes: a request naming an org revision (the answer to an admin write)
        // waits, bounded, until this replica has it; only once its caller is authenticated
        // and only in an org it belongs to, so a stranger cannot hold a connection here.
        if let Some(value) = head.headers.get(REVISION_HEADER) {
            let Some(wanted) = value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) else {
                let error = "bad Portcullis-Revision header: send the org revision (a number) an admin write returned";
                return Err(Rejection::new(400, error));
            };
            let org = snapshot.org(target.org);
            let belongs = org.is_some_and(|o| crate::decide::member_of(o, target.org, principal.caller()).is_some());
            if belongs && org.is_some_and(|o| o.model.revision < wanted) {
                if may_wait {
                    target.org.clone_into(&mut passage.org);
                    return Ok(Verdict::Await { revision: wanted });
                }
                let reason = format!(
                    "this replica has not reached revision {wanted} of org '{}' within {} ms; retry",
                    target.org,
                    self.revision_wait.as_millis()
                );
                return Err(Rejection::new(503, "revision not reached").reason(reason).header("retry-after", "1"));
            }
        }

        // 4. Decide.
        let request = target.request(principal.caller(), crate::instant::now());
        let started = std::time::Instant::now();
        let decision = decide(&snapshot, &request);
        if let Some(metrics) = &self.metrics {
            metrics.decision_latency.observe(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        passage.decided = if decision.allowed { Decided::Allow } else { Decided::Deny };
        if decision.allowed
            && self.recorder.is_some()
            && matches!(target.verb, Verb::Create | Verb::Delete)
            && let Some(member) = principal.caller().member_id_in(target.org)
        {
            let created_id = routes.table.routes().get(target.route).and_then(|r| r.created_id.clone());
            passage.creation = Some(Box::new(Creation {
                org: target.org.into(),
                kind: target.kind.into(),
                project: target.project.map(Into::into),
                id: target.id.map(Into::into),
                deleted: target.verb == Verb::Delete,
                member: member.into(),
                created_id,
            }));
        }
        if self.decision_log.logs(decision.allowed, request_id) {
            let route = routes.table.routes().get(target.route).map(|r| r.path.clone()).unwrap_or_default();
            passage.record = Some(Box::new(Record {
                principal: principal.rendered.clone(),
                org: target.org.into(),
                kind: target.kind.into(),
                level: if target.project.is_some() { "project" } else { "organisation" },
                project: target.project.map(Into::into),
                id: target.id.map(Into::into),
                verb: target.verb.name(),
                allowed: decision.allowed,
                filtered: false,
                reason: explain(&snapshot, &request).text,
                org_revision: snapshot.org(target.org).map_or(0, |o| o.model.revision),
                snapshot_generation: snapshot.generation(),
                route,
            }));
        }
        if let Some(candidate) = self.candidate.as_ref().filter(|c| c.is_ready()) {
            let shadow = candidate.handle().load();
            if decide(&shadow, &request).allowed != decision.allowed {
                if let Some(metrics) = &self.metrics {
                    metrics.shadow(passage.metric.unwrap_or(usize::MAX), decision.allowed);
                }
                let route = routes.table.routes().get(target.route).map_or("", |r| r.path.as_str());
                let (live_reason, candidate_reason) =
                    (explain(&snapshot, &request).text, explain(&shadow, &request).text);
                let disagreement = Disagreement {
                    request_id,
                    method: head.method,
                    path: passage.canonical.path(),
                    route,
                    principal: &principal.rendered,
                    live_allowed: decision.allowed,
                    live_reason: &live_reason,
                    candidate_reason: &candidate_reason,
                };
                crate::decisions::emit_shadow(&disagreement, self.decision_log == LogPolicy::OFF);
            }
        }
        // The reason is worked out only for who asked for it: the decision log (in the
        // record above), explain, and the client when `explain_denials` is set.
        let wants_reason = match self.explaining {
            Explaining::Never => false,
            Explaining::Denials => !decision.allowed,
            Explaining::Always => true,
        };
        if wants_reason {
            passage.reason = Some(explain(&snapshot, &request).to_string());
        }
        if !decision.allowed {
            // A collection's answer filtered to the items the caller may read, when its route
            // says how and the caller may read some.
            let route = routes.table.routes().get(target.route);
            if let Some(filtering) =
                route.and_then(|r| Filtering::wanted(&snapshot, r, head.method, &target, &principal))
            {
                passage.decided = Decided::Filter;
                passage.filtering = Some(Box::new(filtering));
                let filtered = "; forwarded, and its answer filtered to the items the caller may read";
                if let Some(record) = passage.record.as_mut() {
                    record.filtered = true;
                    record.reason.push_str(filtered);
                }
                if let Some(reason) = passage.reason.as_mut().filter(|_| self.explaining == Explaining::Always) {
                    reason.push_str(filtered);
                }
                target.org.clone_into(&mut passage.org);
                return Ok(Verdict::Forward);
            }
            return Err(Rejection { reason: passage.reason.clone(), ..Rejection::new(403, "forbidden") });
        }
        target.org.clone_into(&mut passage.org);
        Ok(Verdict::Forward)
    }
}
