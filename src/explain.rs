//! The readable account of a decision: which role through which binding (directly, via a
//! team or via `all`), which share, the owner, or why it was denied.
//!
//! This is the slow path. `decide` returns only a cheap [`Reason`]; when a person (the CLI,
//! a debug response, a decision log) wants the detail, this walks the org's bindings and
//! shares to find the one that decided.

use std::fmt;

use crate::Request;
use crate::decide::{Decision, Reason, ResourceProblem, Scope, decide, resolve, role_verbs};
use crate::model::{Level, Verb, path_covers};
use crate::policy::{OrgModel, Subject};
use crate::snapshot::{NO_PROFILE, ORG_SCOPE, OrgSnapshot, Snapshot};

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
        (Reason::UnknownResource(p), _) => {
            format!("unknown resource {resource}: {}", problem(snapshot, r.org, r.kind, r.project, p))
        }
        (Reason::Owner, Some(_)) => format!("owner: '{}' owns '{}'", r.principal, r.org),
        (Reason::Role(scope), Some(org)) => {
            role_text(snapshot, org, r, scope).unwrap_or_else(|| format!("a role grants {} on {resource}", r.verb))
        }
        (Reason::Share, Some(org)) => {
            share_text(snapshot, org, r).unwrap_or_else(|| format!("a share grants {} on {resource}", r.verb))
        }
        (Reason::NoGrant, Some(org)) => no_grant_text(snapshot, org, r, &resource),
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

/// Why resource `kind` (in `project`) of `org` does not make sense, as a sentence.
pub(crate) fn problem(snapshot: &Snapshot, org: &str, kind: &str, project: Option<&str>, p: ResourceProblem) -> String {
    match p {
        ResourceProblem::UnknownKind => format!("kind '{kind}' is not declared"),
        ResourceProblem::UnknownProject => {
            format!("project '{}' does not exist in '{org}'", project.unwrap_or_default())
        }
        ResourceProblem::KindNotAtLevel => {
            let level = if project.is_some() { Level::Project } else { Level::Organisation };
            let kinds = &snapshot.globals().kinds;
            let levels = kinds
                .get(kind)
                .and_then(|k| kinds.info(k))
                .map(|i| i.levels().map(Level::name).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            format!("kind '{kind}' does not exist at {level} level (only at: {levels})")
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
pub(crate) fn id_matches(pattern: Option<&str>, id: Option<&str>, hierarchical: bool) -> bool {
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
        let Some(how) = via(model, member, b.subject).filter(|_| in_scope && b.live_at(r.at)) else { continue };
        let Some(role) = model.role(snapshot.globals(), b.role) else { continue };
        let created = |id: &str| org.created_by(t.project.unwrap_or(ORG_SCOPE), t.kind, id, member);
        let entry = role.entries.iter().find(|e| {
            e.level == t.level
                && e.kind == t.kind
                && e.verbs.contains(r.verb)
                && if e.owned { t.id.is_some_and(created) } else { id_matches(e.id.as_deref(), t.id, t.hierarchical) }
        });
        if let Some(entry) = entry {
            let at = match (scope, r.project) {
                (Scope::Project, Some(p)) => format!("in project '{p}'"),
                _ => "at organisation scope".to_string(),
            };
            let owned =
                if entry.owned { format!(" (an `owned` entry: '{}' created it)", r.principal) } else { String::new() };
            return Some(format!(
                "role '{}' bound to '{}' {how} {at}{} grants {} on {}{owned}",
                role.name,
                model.subject_name(b.subject),
                until(b.expires_at.get()),
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
        let Some(how) = via(model, member, s.subject).filter(|_| s.live_at(r.at)) else { continue };
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
                "share of {} on {} {}{} to '{}' {how}{by}{}",
                s.verbs,
                r.kind,
                s.id,
                r.project.map_or(String::new(), |p| format!(" in project '{p}'")),
                model.subject_name(s.subject),
                until(s.expires_at.get()),
            ));
        }
    }
    None
}

/// `" until 2026-12-01T00:00:00Z"` for a grant that expires.
fn until(expires_at: Option<i64>) -> String {
    expires_at.map_or(String::new(), |e| format!(" until {}", crate::instant::render(e)))
}

fn no_grant_text(snapshot: &Snapshot, org: &OrgSnapshot, r: &Request<'_>, resource: &str) -> String {
    let mut text = format!("no grant: no role or share of '{}' grants {} on {resource}", r.principal, r.verb);
    if let (Ok((_, member, t)), Some(project)) = (resolve(snapshot, r), r.project) {
        let p = t.project.unwrap_or_default();
        let own_in_project = org.project_profiles.contains_key(&crate::policy::pair(member, p));
        let org_profile = org.member_info.get(member as usize).map_or(NO_PROFILE, |m| m.profile);
        if own_in_project && role_verbs(org, org_profile, &t, member).contains(r.verb) {
            text.push_str(&format!(
                " (its organisation role would grant it, but in project '{project}' it is replaced by the project role \
                 bound to '{}' or a team of it)",
                r.principal
            ));
        } else if !own_in_project && org.restricted.get(p as usize).copied().unwrap_or(false) {
            text.push_str(&format!(
                " (project '{project}' is restricted and '{}' has no role of its own in it)",
                r.principal
            ));
        }
    }
    if r.id.is_none() && matches!(r.verb, Verb::List | Verb::Create) {
        text.push_str("; a collection needs kind-wide access (a role entry without an id, or a '*' share)");
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use crate::policy::compile_text;

    const WORLD: &str = r#"
[[kind]]
name = "containers"
levels = ["project"]

[[org]]
id = "acme"
owner = "olga"
members = ["olga", "ada", "bob", "nia"]
projects = [{ id = "web" }, { id = "lab", restricted = true }]

[[org.binding]]
subject = "ada"
role = "admin"

[[org.binding]]
subject = "bob"
role = "admin"

[[org.binding]]
subject = "bob"
role = "viewer"
project = "web"

[[org.binding]]
subject = "all"
role = "member"
project = "web"
"#;

    fn text(principal: &str, project: &str, verb: Verb) -> Explanation {
        let snapshot = compile_text("world.toml", WORLD).unwrap();
        let r = Request {
            org: "acme",
            principal: crate::Caller::User(principal),
            project: Some(project),
            kind: "containers",
            id: Some("c1"),
            verb,
            at: 0,
        };
        explain(&snapshot, &r)
    }

    #[test]
    fn all_users_adds_and_says_so() {
        let e = text("ada", "web", Verb::Delete);
        assert!(e.decision.allowed, "{e}");
        assert!(e.text.contains("role 'admin' bound to 'ada' directly at organisation scope"), "{e}");
        let e = text("nia", "web", Verb::Update);
        assert!(e.decision.allowed, "{e}");
        assert!(e.text.contains("role 'member' bound to 'all' via 'all' in project 'web'"), "{e}");
    }

    #[test]
    fn owned_entries_and_expiring_grants_are_named_only_while_they_count() {
        let text = r#"
[[kind]]
name = "spaces"
levels = ["project"]

[[role]]
name = "project-user"
permissions = ["project:spaces:create", "project:spaces:owned:write"]

[[org]]
id = "loft"
owner = "lena"
members = ["lena", "ana"]
projects = [{ id = "dev" }]

[[org.binding]]
subject = "ana"
role = "project-user"

[[org.created]]
subject = "ana"
kind = "spaces"
project = "dev"
id = "mine"

[[org.share]]
subject = "ana"
kind = "spaces"
project = "dev"
id = "theirs"
verbs = ["delete"]
expires_at = "1970-01-01T00:01:40Z"
"#;
        let snapshot = compile_text("loft.toml", text).unwrap();
        let r = |id, at| Request {
            org: "loft",
            principal: crate::Caller::User("ana"),
            project: Some("dev"),
            kind: "spaces",
            id: Some(id),
            verb: Verb::Delete,
            at,
        };
        let e = explain(&snapshot, &r("mine", 0));
        assert!(e.decision.allowed, "{e}");
        assert!(e.text.contains("(an `owned` entry: 'ana' created it)"), "{e}");
        let e = explain(&snapshot, &r("theirs", 99));
        assert!(e.decision.allowed, "{e}");
        assert!(e.text.contains("until 1970-01-01T00:01:40Z"), "{e}");
        let e = explain(&snapshot, &r("theirs", 100));
        assert!(!e.decision.allowed, "{e}");
        assert!(e.text.starts_with("no grant"), "{e}");
    }

    #[test]
    fn a_replaced_org_role_is_named_in_the_denial() {
        let e = text("bob", "web", Verb::Delete);
        assert!(!e.decision.allowed, "{e}");
        assert!(e.text.contains("its organisation role would grant it, but in project 'web' it is replaced"), "{e}");
        // Not said where nothing was replaced.
        let e = text("nia", "web", Verb::Delete);
        assert!(!e.text.contains("replaced"), "{e}");
        let e = text("ada", "lab", Verb::Read);
        assert!(e.text.contains("project 'lab' is restricted and 'ada' has no role of its own in it"), "{e}");
    }
}
