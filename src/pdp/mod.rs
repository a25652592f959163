//! The OpenID AuthZEN Authorization API 1.0 on a listener of its own (`[pdp]`), so gateways
//! users already run (Envoy, Kong, APISIX, Tyk have AuthZEN plugins) can ask Portcullis's
//! model and live snapshot instead of running their own rules.
//!
//! It answers from the same snapshot the data plane decides with, through the same
//! `decide`. Callers are policy enforcement points listed in `[[pdp.client]]` by their
//! token's SHA-256; a request is authenticated before its body is read. Only clients with
//! `reasons = true` see why (`context.reason`): a reason names roles and grants.
//! `X-Request-ID` is echoed on every answer.

pub mod evaluate;
pub mod search;

use std::sync::Arc;

use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{Pdp, PdpClient};
use crate::reload::LivePolicy;
use evaluate::{BadField, Semantic, evaluate, read, with_defaults};
use search::Search;

/// The largest request body read.
pub const MAX_BODY: usize = 1024 * 1024;
/// The most evaluations in one batch.
pub const MAX_EVALUATIONS: usize = 1000;

const REQUEST_ID: &str = "x-request-id";
const EVALUATION: &str = "/access/v1/evaluation";
const EVALUATIONS: &str = "/access/v1/evaluations";
const SEARCH_SUBJECT: &str = "/access/v1/search/subject";
const SEARCH_RESOURCE: &str = "/access/v1/search/resource";
const SEARCH_ACTION: &str = "/access/v1/search/action";
const WELL_KNOWN: &str = "/.well-known/authzen-configuration";

/// The search a path asks for, if it is one.
fn search_at(path: &str) -> Option<Search> {
    match path {
        SEARCH_SUBJECT => Some(Search::Subject),
        SEARCH_RESOURCE => Some(Search::Resource),
        SEARCH_ACTION => Some(Search::Action),
        _ => None,
    }
}

/// The decision API over the live policy.
pub struct PdpApi {
    policy: Arc<LivePolicy>,
    clients: Vec<PdpClient>,
    issuer: String,
}

impl PdpApi {
    pub fn new(config: &Pdp, policy: Arc<LivePolicy>) -> PdpApi {
        let issuer = config.issuer.clone().unwrap_or_else(|| format!("http://{}", config.listen));
        PdpApi { policy, clients: config.clients.clone(), issuer: issuer.trim_end_matches('/').to_string() }
    }

    /// The client whose token `authorization` carries, compared by SHA-256 in constant time.
    fn client(&self, authorization: Option<&HeaderValue>) -> Option<&PdpClient> {
        let token = authorization?.to_str().ok()?.strip_prefix("Bearer ")?.trim();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for c in &self.clients {
            let same = crate::auth::same_bytes(&c.sha256, &digest);
            if same && found.is_none() {
                found = Some(c);
            }
        }
        found
    }

    fn metadata(&self) -> Value {
        json!({
            "policy_decision_point": self.issuer,
            "issuer": self.issuer,
            "access_evaluation_endpoint": format!("{}{EVALUATION}", self.issuer),
            "access_evaluations_endpoint": format!("{}{EVALUATIONS}", self.issuer),
            "search_subject_endpoint": format!("{}{SEARCH_SUBJECT}", self.issuer),
            "search_resource_endpoint": format!("{}{SEARCH_RESOURCE}", self.issuer),
            "search_action_endpoint": format!("{}{SEARCH_ACTION}", self.issuer),
        })
    }

    /// The answer to a parsed request body on `path`.
    fn answer(&self, client: &PdpClient, path: &str, request: &Value) -> Result<Value, Answer> {
        if !self.policy.is_ready() {
            return Err(Answer::error(StatusCode::SERVICE_UNAVAILABLE, "no valid policy is loaded yet"));
        }
        let snapshot = self.policy.handle().load();
        let now = crate::instant::now();
        let decision = |o: evaluate::Outcome| {
            if client.reasons {
                json!({ "decision": o.allowed, "context": { "reason": o.reason } })
            } else {
                json!({ "decision": o.allowed })
            }
        };
        match path {
            EVALUATION => Ok(decision(evaluate(&snapshot, client, &read(client, request, "")?, now))),
            EVALUATIONS => {
                let semantic = Semantic::parse(request)?;
                let items = match request.get("evaluations") {
                    None | Some(Value::Null) => {
                        return Ok(decision(evaluate(&snapshot, client, &read(client, request, "")?, now)));
                    }
                    Some(Value::Array(items)) => items,
                    Some(_) => return Err(evaluate::bad("evaluations", "must be an array").into()),
                };
                if items.len() > MAX_EVALUATIONS {
                    let why = format!("has {} evaluations; at most {MAX_EVALUATIONS} in one request", items.len());
                    return Err(evaluate::bad("evaluations", why).into());
                }
                // Every item is checked before any is decided, so a malformed batch is a 400
                // whatever the semantic would have stopped at.
                let tuples = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| with_defaults(request, item, &format!("evaluations[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                let asked = tuples
                    .iter()
                    .enumerate()
                    .map(|(i, tuple)| read(client, tuple, &format!("evaluations[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut outcomes = Vec::with_capacity(asked.len());
                for a in &asked {
                    let outcome = evaluate(&snapshot, client, a, now);
                    let allowed = outcome.allowed;
                    outcomes.push(outcome);
                    if semantic.stops_at(allowed) {
                        break;
                    }
                }
                Ok(json!({ "evaluations": outcomes.into_iter().map(decision).collect::<Vec<_>>() }))
            }
            _ => match search_at(path) {
                Some(which) => Ok(search::search(&snapshot, client, which, request, now)?),
                None => Err(Answer::error(StatusCode::NOT_FOUND, "no such endpoint")),
            },
        }
    }
}

/// A refusal: the status and the JSON error.
pub struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn error(status: StatusCode, error: &str) -> Answer {
        Answer { status, body: json!({ "error": error }) }
    }
}

impl From<BadField> for Answer {
    fn from(e: BadField) -> Answer {
        Answer {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "error": format!("bad request: {e}"), "field": e.field, "message": e.message }),
        }
    }
}

fn respond(status: StatusCode, body: &Value, request_id: Option<&HeaderValue>) -> Response<Vec<u8>> {
    let mut r = Response::new(format!("{body}\n").into_bytes());
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(id) = request_id {
        r.headers_mut().insert(REQUEST_ID, id.clone());
    }
    r
}

impl crate::serve::App for PdpApi {
    async fn call(&self, request: http::Request<hyper::body::Incoming>) -> Response<Vec<u8>> {
        let (head, body) = request.into_parts();
        // Echoed as sent, when it is a short visible token.
        let request_id = head.headers.get(REQUEST_ID).filter(|v| v.len() <= 256 && v.to_str().is_ok()).cloned();
        let id = request_id.as_ref();
        let path = head.uri.path();
        if path == WELL_KNOWN {
            return match head.method {
                Method::GET => respond(StatusCode::OK, &self.metadata(), id),
                _ => respond(StatusCode::METHOD_NOT_ALLOWED, &json!({ "error": "use GET" }), id),
            };
        }
        if path != EVALUATION && path != EVALUATIONS && search_at(path).is_none() {
            return respond(StatusCode::NOT_FOUND, &json!({ "error": "no such endpoint" }), id);
        }
        if head.method != Method::POST {
            return respond(StatusCode::METHOD_NOT_ALLOWED, &json!({ "error": "use POST" }), id);
        }
        // Authenticate before reading the body.
        let Some(client) = self.client(head.headers.get(http::header::AUTHORIZATION)) else {
            let error = "unauthenticated: send `Authorization: Bearer <token>` with a token listed in [[pdp.client]]";
            let mut r = respond(StatusCode::UNAUTHORIZED, &json!({ "error": error }), id);
            r.headers_mut().insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"pdp\""));
            return r;
        };
        let too_large = || {
            let error = format!("the body is over {MAX_BODY} bytes, the PDP's limit");
            respond(StatusCode::PAYLOAD_TOO_LARGE, &json!({ "error": error }), id)
        };
        let declared =
            head.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY) {
            return too_large();
        }
        use http_body_util::BodyExt as _;
        let bytes = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
            Err(_) => return respond(StatusCode::BAD_REQUEST, &json!({ "error": "the body could not be read" }), id),
        };
        let parsed: Value = match serde_json::from_slice(&bytes) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return respond(
                    StatusCode::BAD_REQUEST,
                    &json!({ "error": "bad request: the body must be a JSON object" }),
                    id,
                );
            }
            Err(e) => {
                let error = format!("bad request: the body is not JSON ({e})");
                return respond(StatusCode::BAD_REQUEST, &json!({ "error": error }), id);
            }
        };
        match self.answer(client, path, &parsed) {
            Ok(body) => respond(StatusCode::OK, &body, id),
            Err(a) => respond(a.status, &a.body, id),
        }
    }
}
