//! The inverse of [`parse`](super::parse): a policy AST back to policy-file TOML.
//!
//! The control plane stores each org it manages as the text of its policy, so that what is
//! committed is exactly what the file format and the validator accept, and an org can be
//! exported to (or imported from) a policies folder unchanged. Rendering then parsing gives
//! back the same policy: ids, lists and verb sets; only source locations differ.
//!
//! ```
//! use portcullis::policy::{FileMode, SourceText, parse, render_org};
//! let text = "[[org]]\nid = \"acme\"\nowner = \"alice\"\nmembers = [\"alice\"]\n";
//! let (set, _) = parse(&[SourceText { path: "a.toml".into(), text: text.into() }], FileMode::Policy).unwrap();
//! let again = render_org(&set.orgs[0]);
//! assert!(again.contains("id = \"acme\"") && again.contains("members = [\"alice\"]"));
//! ```

use std::fmt::Write as _;

use super::ast::{KindDecl, Located, OrgDecl, Permission, RoleDecl};

/// A TOML basic string. JSON's escapes are all valid in TOML basic strings.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

fn quoted_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.map(quote).collect::<Vec<_>>().join(", ")
}

/// One role entry as written: `level:kind:verbs` or `level:kind:id:verbs`.
pub fn render_permission(p: &Permission) -> String {
    match (&p.id, p.owned) {
        (_, true) => format!("{}:{}:owned:{}", p.level.name(), p.kind, p.verbs),
        (Some(id), false) => format!("{}:{}:{id}:{}", p.level.name(), p.kind, p.verbs),
        (None, false) => format!("{}:{}:{}", p.level.name(), p.kind, p.verbs),
    }
}

fn role(out: &mut String, table: &str, r: &RoleDecl) {
    let perms: Vec<String> = r.permissions.iter().map(|p| quote(&render_permission(&p.value))).collect();
    let _ = writeln!(out, "[[{table}]]\nname = {}\npermissions = [{}]\n", quote(&r.name.value), perms.join(", "));
}

/// `[[kind]]` and global `[[role]]` tables.
pub fn render_globals(kinds: &[KindDecl], roles: &[RoleDecl]) -> String {
    let mut out = String::new();
    for k in kinds {
        let levels = quoted_list(k.levels.iter().map(|l| l.name()));
        let _ = write!(
            out,
            "[[kind]]\nname = {}\nlevels = [{levels}]\nhierarchical = {}\n",
            quote(&k.name.value),
            k.hierarchical
        );
        if !k.actions.is_empty() {
            let entries: Vec<String> =
                k.actions.iter().map(|(a, v)| format!("{} = {}", quote(&a.value), quote(v.name()))).collect();
            let _ = writeln!(out, "actions = {{ {} }}", entries.join(", "));
        }
        out.push('\n');
    }
    for r in roles {
        role(&mut out, "role", r);
    }
    out
}

/// One `[[org]]` with its roles, bindings and shares.
pub fn render_org(o: &OrgDecl) -> String {
    let ids = |v: &[Located<String>]| quoted_list(v.iter().map(|m| m.value.as_str()));
    let mut out = String::new();
    let _ = writeln!(out, "[[org]]\nid = {}\nowner = {}", quote(&o.id.value), quote(&o.owner.value));
    let _ = writeln!(out, "members = [{}]", ids(&o.members));
    if !o.service_accounts.is_empty() {
        let _ = writeln!(out, "service_accounts = [{}]", ids(&o.service_accounts));
    }
    if !o.teams.is_empty() {
        let teams: Vec<String> =
            o.teams.iter().map(|t| format!("{} = [{}]", quote(&t.name.value), ids(&t.members))).collect();
        let _ = writeln!(out, "teams = {{ {} }}", teams.join(", "));
    }
    if !o.projects.is_empty() {
        let projects: Vec<String> = o
            .projects
            .iter()
            .map(|p| format!("{{ id = {}, restricted = {} }}", quote(&p.id.value), p.restricted))
            .collect();
        let _ = writeln!(out, "projects = [{}]", projects.join(", "));
    }
    out.push('\n');
    for r in &o.roles {
        role(&mut out, "org.role", r);
    }
    for b in &o.bindings {
        let _ =
            write!(out, "[[org.binding]]\nsubject = {}\nrole = {}\n", quote(&b.subject.value), quote(&b.role.value));
        if let Some(p) = &b.project {
            let _ = writeln!(out, "project = {}", quote(&p.value));
        }
        instant(&mut out, "expires_at", b.expires_at.as_ref());
        out.push('\n');
    }
    for s in &o.shares {
        let verbs = quoted_list(s.verbs.iter().map(|v| v.name()));
        let _ = write!(out, "[[org.share]]\nsubject = {}\nkind = {}\n", quote(&s.subject.value), quote(&s.kind.value));
        if let Some(p) = &s.project {
            let _ = writeln!(out, "project = {}", quote(&p.value));
        }
        let _ = write!(out, "id = {}\nverbs = [{verbs}]\n", quote(&s.id.value));
        if let Some(g) = &s.granted_by {
            let _ = writeln!(out, "granted_by = {}", quote(&g.value));
        }
        instant(&mut out, "granted_at", s.granted_at.as_ref());
        instant(&mut out, "expires_at", s.expires_at.as_ref());
        out.push('\n');
    }
    for c in &o.created {
        let _ =
            write!(out, "[[org.created]]\nsubject = {}\nkind = {}\n", quote(&c.subject.value), quote(&c.kind.value));
        if let Some(p) = &c.project {
            let _ = writeln!(out, "project = {}", quote(&p.value));
        }
        let _ = writeln!(out, "id = {}", quote(&c.id.value));
        instant(&mut out, "at", c.at.as_ref());
        out.push('\n');
    }
    out
}

/// `key = "2026-12-01T00:00:00Z"`, if there is an instant.
fn instant(out: &mut String, key: &str, at: Option<&Located<i64>>) {
    if let Some(at) = at {
        let _ = writeln!(out, "{key} = {}", quote(&crate::instant::render(at.value)));
    }
}
