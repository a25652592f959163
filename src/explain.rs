//! The readable account of a decision: which role through which binding (directly, via a
//! team or via `all`), which share, the owner, or why it was denied.
//!
//! This is the slow path. `decide` returns only a cheap [`Reason`]; when a person (the CLI,
//! a debug response, a decision log) wants the detail, this walks the org's bindings and
//! shares to find the one that decided.

use std::fmt;

use crate::Request;
use crate::decide::{Decision, Reason, ResourceProblem, Scope, decide, resolve};
use crate::model::{Level, Verb, path_covers};
use crate::policy::{OrgModel, Subject};
use crate::snapshot::{OrgSnapshot, Snapshot};

/// A decision and the sentence that explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub decision: Decision,
    pub text: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.decision.allowed { "allow" } else { "deny" };
        write!(f, "{word}: {}", self.text)
    }
}

/// Decides `request` and explains the decision.
pub fn explain(snapshot: &Snapshot, request: &Request<'_>) -> Explanation {
    let decision = decide(snapshot, request);
    let text = describe(snapshot, request, decision);
    Explanation { decision, text }
}

fn describe(snapshot: &Snapshot, r: &Request<'_>, d: Decision) -> String {
    let resource = resource_name(r);
    let org = snapshot.org(r.org);
    match (d.reason, org) {
        (Reason::UnknownOrg, _) | (_, None) => format!("there is no organisation '{}'", r.org),
        (Reason::NotAMember, _) => format!("not a member: '{}' is not a member of '{}'", r.principal, r.org),
        (Reason::UnknownResource(p), _) => format!("unknown resource {resource}: {}", problem(snapshot, r, p)),
        (Reason::Owner, Some(_)) => format!("owner: '{}' owns '{}'", r.principal, r.org),
        (Reason::Role(scope), Some(org)) => {
            role_text(snapshot, org, r, scope).unwrap_or_else(|| format!("a role grants {} on {resource}", r.verb))
        }
        (Reason::Share, Some(org)) => {
            share_text(snapshot, org, r).unwrap_or_else(|| format!("a share grants {} on {resource}", r.verb))
        }
        (Reason::NoGrant, Some(org)) => no_grant_text(org, r, &resource),
    }
}

fn resource_name(r: &Request<'_>) -> String {
    let mut s = r.kind.to_string();
    if let Some(id) = r.id {
        s.push(' ');
        s.push_str(id);
    } else {
        s.push_str(" (collection)");
    }
    if let Some(p) = r.project {
        s.push_str(" in project ");
        s.push_str(p);
    }
    s
}

fn problem(snapshot: &Snapshot, r: &Request<'_>, p: ResourceProblem) -> String {
    match p {
        ResourceProblem::UnknownKind => format!("kind '{}' is not declared", r.kind),
        ResourceProblem::UnknownProject => {
            format!("project '{}' does not exist in '{}'", r.project.unwrap_or_default(), r.org)
        }
        ResourceProblem::KindNotAtLevel => {
            let level = if r.project.is_some() { Level::Project } else { Level::Organisation };
            let kinds = &snapshot.globals().kinds;
            let levels = kinds
                .get(r.kind)
                .and_then(|k| kinds.info(k))
                .map(|i| i.levels().map(Level::name).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            format!("kind '{}' does not exist at {level} level (only at: {levels})", r.kind)
        }
        ResourceProblem::MalformedId(why) => format!("the id is malformed: {why}"),
    }
}

/// The subjects that stand for `member`, and how: `None` for itself, the team name, or
/// `all`.
fn via(model: &OrgModel, member: u32, s: Subject) -> Option<String> {
    match s {
        Subject::Member(m) if m == member => Some("directly".into()),
        Subject::Team(t) => model
            .teams
            .get(t as usize)
            .filter(|t| t.members.contains(&member))
            .map(|t| format!("via team '{}'", t.name)),
        Subject::All => Some("via 'all'".into()),
        Subject::Member(_) => None,
    }
}

/// Whether a grant's id (`None` or `*` for the whole kind) covers the requested id (`None`
/// for the collection, which only whole-kind grants cover).
fn id_matches(pattern: Option<&str>, id: Option<&str>, hierarchical: bool) -> bool {
    match (pattern, id) {
        (None | Some("*"), _) => true,
        (Some(_), None) => false,
        (Some(p), Some(id)) => p == id || (hierarchical && path_covers(p, id)),
    }
}

fn role_text(snapshot: &Snapshot, org: &OrgSnapshot, r: &Request<'_>, scope: Scope) -> Option<String> {
    let (_, member, t) = resolve(snapshot, r).ok()?;
    let model = &org.model;
    for b in &model.bindings {
        let in_scope = match scope {
            Scope::Organisation => b.project.is_none(),
            Scope::Project => b.project.is_some() && b.project == t.project,
        };
        let Some(how) = via(model, member, b.subject).filter(|_| in_scope) else { continue };
        let Some(role) = model.role(snapshot.globals(), b.role) else { continue };
        let grants = role.entries.iter().any(|e| {
            e.level == t.level
                && e.kind == t.kind
                && e.verbs.contains(r.verb)
                && (e.id.is_none() || id_matches(e.id.as_deref(), t.id, t.hierarchical))
        });
        if grants {
            let at = match (scope, r.project) {
                (Scope::Project, Some(p)) => format!("in project '{p}'"),
                _ => "at organisation scope".to_string(),
            };
            return Some(format!(
                "role '{}' bound to '{}' {how} {at} grants {} on {}",
                role.name,
                model.subject_name(b.subject),
                r.verb,
                resource_name(r)
            ));
        }
    }
    None
}

fn share_text(snapshot: &Snapshot, org: &OrgSnapshot, r: &Request<'_>) -> Option<String> {
    let (_, member, t) = resolve(snapshot, r).ok()?;
    let model = &org.model;
    for s in &model.shares {
        let Some(how) = via(model, member, s.subject) else { continue };
        let covers = s.kind == t.kind
            && s.project == t.project
            && s.verbs.contains(r.verb)
            && id_matches(Some(&s.id), t.id, t.hierarchical);
        if covers {
            let by = s
                .granted_by
                .and_then(|g| model.members.get(g as usize))
                .map_or(String::new(), |m| format!(", granted by '{}'", m.id));
            return Some(format!(
                "share of {} on {} {}{} to '{}' {how}{by}",
                s.verbs,
                r.kind,
                s.id,
                r.project.map_or(String::new(), |p| format!(" in project '{p}'")),
                model.subject_name(s.subject),
            ));
        }
    }
    None
}

fn no_grant_text(org: &OrgSnapshot, r: &Request<'_>, resource: &str) -> String {
    let mut text = format!("no grant: no role or share of '{}' grants {} on {resource}", r.principal, r.verb);
    if let (Some(p), Some(member)) = (r.project.and_then(|p| org.project_index(p)), org.member_index(r.principal)) {
        let restricted = org.model.projects.get(p as usize).is_some_and(|p| p.restricted);
        let (_, scope) = crate::decide::base_profile(org, member, Some(p));
        if restricted && scope == Scope::Project && !org.project_profiles.contains_key(&crate::policy::pair(member, p))
        {
            text.push_str(&format!(
                " (project '{}' is restricted and '{}' has no role in it)",
                r.project.unwrap_or_default(),
                r.principal
            ));
        }
    }
    if r.id.is_none() && matches!(r.verb, Verb::List | Verb::Create) {
        text.push_str("; a collection needs kind-wide access (a role entry without an id, or a '*' share)");
    }
    text
}
