//! What the signed-in user can reach, and what it has shared (`acl list`); and the org's
//! audit log, for those who may read events, filtered by actor and by kind of change.

use http::Response;

use super::Console;
use super::form::{Fields, field};
use super::html::{esc, url};
use super::org::Said;
use super::session::Session;
use crate::control::Access;

/// The most audit entries one page reads.
const AUDIT_PAGE: u32 = 500;

impl Console {
    pub(super) async fn my_access_page(&self, s: &Session, org: &str) -> Response<Vec<u8>> {
        let mut body = String::from("<h2>What I can reach</h2>\n");
        match self.control.acl(org, &s.identity, None, None, false).await {
            Ok(list) => body.push_str(&access_table("my-access", org, &list)),
            Err(e) => return self.show(s, org, "my access", Said::refused(&e), body),
        }
        body.push_str("<h2>What I have shared</h2>\n");
        match self.control.acl(org, &s.identity, None, None, true).await {
            Ok(list) if list.is_empty() => body.push_str("<p>Nothing.</p>\n"),
            Ok(list) => body.push_str(&access_table("my-shares", org, &list)),
            Err(e) => body.push_str(&super::html::said(&e.to_string(), true)),
        }
        self.show(s, org, "my access", None, body)
    }

    /// The audit log, newest first, filtered by actor and by kind of change (what an
    /// entry's action starts with: `share`, `role`, `transfer`, ...).
    pub(super) async fn audit_page(&self, s: &Session, org: &str, query: &Fields) -> Response<Vec<u8>> {
        let (actor, kind) = (field(query, "actor"), field(query, "kind"));
        let entries = match self.control.audit(org, &s.identity, 0, u32::MAX).await {
            Ok(e) => e,
            Err(e) => return self.show(s, org, "audit log", Said::refused(&e), String::new()),
        };
        let kind_of = |action: &str| action.split('.').next().unwrap_or(action).to_string();
        let mut kinds: Vec<String> = entries.iter().map(|e| kind_of(&e.action)).collect();
        kinds.sort();
        kinds.dedup();
        let options = std::iter::once(("", "every kind")).chain(kinds.iter().map(|k| (k.as_str(), k.as_str())));
        let mut body = format!(
            "<form method=\"get\" action=\"/console/orgs/{}/audit\" class=\"row\" id=\"filter\"><label>Actor <input \
             name=\"actor\" value=\"{}\"></label> <label>Kind of change {}</label> <button>Filter</button></form>\n",
            url(org),
            esc(actor.unwrap_or("")),
            super::html::select("kind", options, kind.unwrap_or("")),
        );
        let kept: Vec<_> = entries
            .iter()
            .rev()
            .filter(|e| actor.is_none_or(|a| e.actor == a))
            .filter(|e| kind.is_none_or(|k| kind_of(&e.action) == k))
            .take(AUDIT_PAGE as usize)
            .collect();
        body.push_str(&format!(
            "<p class=\"note\">{} of {} entries, newest first.</p>\n<table id=\"audit\"><tr><th>Revision</th><th>When</th>\
             <th>Actor</th><th>Change</th><th>Detail</th></tr>\n",
            kept.len(),
            entries.len()
        ));
        for e in kept {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
                e.revision,
                esc(&crate::instant::render(e.at)),
                esc(&e.actor),
                esc(&e.action),
                esc(&e.detail)
            ));
        }
        body.push_str("</table>\n");
        self.show(s, org, "audit log", None, body)
    }
}

/// Access entries as a table, each resource linked to its page.
fn access_table(id: &str, org: &str, list: &[Access]) -> String {
    let mut out = format!(
        "<table id=\"{id}\"><tr><th>Kind</th><th>Level</th><th>Project</th><th>Resource</th><th>Verbs</th><th>From</th></tr>\n"
    );
    for a in list {
        let resource = match (a.id.as_str(), a.project.as_deref()) {
            ("*", _) | (_, Some("*")) => esc(&a.id),
            (rid, project) => format!(
                "<a href=\"/console/orgs/{}/resource?kind={}{}&amp;id={}\">{}</a>",
                url(org),
                url(&a.kind),
                project.map(|p| format!("&amp;project={}", url(p))).unwrap_or_default(),
                url(rid),
                esc(rid)
            ),
        };
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{resource}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&a.kind),
            a.level,
            esc(a.project.as_deref().unwrap_or("—")),
            a.verbs.join(", "),
            esc(&a.source)
        ));
    }
    out.push_str("</table>\n");
    out
}
