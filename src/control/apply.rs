//! `portcullis org apply FILE`: a store-owned org changed to what a policy file says, in
//! one write, with the authorisation of the individual changes (see [`super::plan`]).
//!
//! The file is validated first, against the live kinds and global roles, so a problem in
//! it is reported by its own file, line and column. Then each step of the plan is decided
//! by the model against the org as the steps before it left it, exactly as if the caller
//! had made the changes one by one; a step refused refuses the whole file and nothing is
//! written. A dry run does the same and stops before the commit.

use std::sync::Mutex;

use super::plan::{Op, Step, plan};
use super::{AdminError, ControlPlane, Current, FieldProblem, FieldProblems, Outcome, checked, member_of, now};
use crate::edit::{self, Edit};
use crate::manage::{self, Refusal};
use crate::policy::{FileMode, OrgDecl, SourceText, parse, render_org, validate_org};
use crate::principal::Identity;
use crate::store::TokenChange;

/// One change of an applied (or planned) file, as the API lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlannedChange {
    pub op: Op,
    pub what: &'static str,
    pub name: String,
    /// `+ member frank`: the change as `portcullis org apply` prints it.
    pub line: String,
}

/// What applying a file did, or (dry run) would do.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Applied {
    pub changes: Vec<PlannedChange>,
    /// The org's revision after the write; with nothing written, the revision compared.
    pub revision: u64,
    /// Whether a write was made (not on a dry run, nor for an empty plan).
    pub written: bool,
}

impl ControlPlane {
    /// Makes org `org` what `text` (the policy file `file`, for messages) declares, as
    /// `actor`; with `dry_run`, only says what that would change and whether it is allowed.
    pub async fn apply_org(
        &self,
        org: &str,
        actor: &Identity,
        file: &str,
        text: &str,
        dry_run: bool,
    ) -> Result<Applied, AdminError> {
        // A member of the org, before anything of the file is looked at.
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        let wanted = self.read_file(org, file, text)?;
        let changes = |steps: &[Step]| -> Vec<PlannedChange> {
            steps
                .iter()
                .map(|s| PlannedChange { op: s.op, what: s.what, name: s.name.clone(), line: s.to_string() })
                .collect()
        };
        if dry_run {
            let (steps, _) = self.made(&cur, actor, member_of(&cur, actor)?, &wanted)?;
            return Ok(Applied { changes: changes(&steps), revision: cur.stored.revision, written: false });
        }
        // What the last attempt planned (a write starts again if another one commits first).
        let planned = Mutex::new((Vec::new(), 0));
        let detail = serde_json::json!({ "file": file }).to_string();
        let written = self
            .write_if(org, actor, "org.apply", &detail, |cur, member| {
                let (steps, outcome) = self.made(cur, actor, member, &wanted)?;
                *planned.lock().unwrap_or_else(|e| e.into_inner()) = (changes(&steps), cur.stored.revision);
                Ok((!steps.is_empty()).then_some(outcome))
            })
            .await?;
        let (changes, compared) = planned.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(match written {
            Some(w) => Applied { changes, revision: w.revision, written: true },
            None => Applied { changes, revision: compared, written: false },
        })
    }

    /// The org `text` declares, validated as a policy file would be.
    fn read_file(&self, org: &str, file: &str, text: &str) -> Result<OrgDecl, AdminError> {
        let invalid = |problems: Vec<String>| AdminError::Invalid {
            org: org.into(),
            problems: FieldProblems(
                problems.into_iter().map(|message| FieldProblem { field: None, message }).collect(),
            ),
        };
        let source = SourceText { path: file.into(), text: text.to_string() };
        let (set, _) = parse(std::slice::from_ref(&source), FileMode::Policy)
            .map_err(|e| invalid(e.0.iter().map(ToString::to_string).collect()))?;
        let ([decl], true) = (set.orgs.as_slice(), set.kinds.is_empty() && set.roles.is_empty()) else {
            return Err(invalid(vec![format!(
                "{file}: an org file holds one [[org]] and its tables (`portcullis org export` writes one); kinds and \
                 global roles belong in the policies folder"
            )]));
        };
        let live = self.live.handle().load_full();
        validate_org(live.globals(), &set, decl).map_err(|e| invalid(e.0.iter().map(ToString::to_string).collect()))?;
        Ok(decl.clone())
    }

    /// The plan from `cur` to `wanted`, each step authorised as `actor` against the org as
    /// the steps before it left it, and what committing it all writes.
    fn made(
        &self,
        cur: &Current,
        actor: &Identity,
        member: &str,
        wanted: &OrgDecl,
    ) -> Result<(Vec<Step>, Outcome), AdminError> {
        let org = cur.stored.id.as_str();
        let steps = plan(&cur.decl, wanted, member, now()).map_err(|e| AdminError::Invalid {
            org: org.into(),
            problems: FieldProblems(vec![FieldProblem { field: None, message: e.to_string() }]),
        })?;
        let (mut decl, mut snapshot) = (cur.decl.clone(), cur.snapshot.clone());
        let mut removed_accounts = Vec::new();
        for step in &steps {
            let mut scratch = Vec::new();
            let change = step.edit.change(&decl, snapshot.globals(), &mut scratch)?;
            let allowed = manage::authorize(&snapshot, org, actor.caller(), &change);
            let after = edit::apply(&decl, &step.edit);
            let after = match (allowed, after) {
                (Ok(()), after) => after?,
                // As for one change: input that cannot make a valid org is reported as such.
                (Err(refusal @ Refusal::Missing { .. }), Ok(after)) => {
                    checked(&snapshot, org, &render_org(&after))?;
                    return Err(refused_at(step, refusal));
                }
                (Err(refusal), _) => return Err(refused_at(step, refusal)),
            };
            let (_, model) = checked(&snapshot, org, &render_org(&after))?;
            snapshot = snapshot.with_org(model).map_err(|e| AdminError::StoredInvalid {
                org: org.into(),
                problems: FieldProblems(vec![FieldProblem { field: None, message: e.to_string() }]),
            })?;
            if let Edit::RemoveMember { id } = &step.edit
                && decl.service_accounts.iter().any(|s| s.as_str() == id)
            {
                removed_accounts.push(id.clone());
            }
            decl = after;
        }
        let tokens =
            (!removed_accounts.is_empty()).then_some(TokenChange::RevokeAccounts { accounts: removed_accounts });
        Ok((steps, Outcome { after: decl, transfer: cur.stored.transfer.clone(), tokens }))
    }
}

/// A refusal of one step, naming the step: the whole file is refused with it.
fn refused_at(step: &Step, refusal: Refusal) -> AdminError {
    AdminError::StepRefused { step: format!("'{step}'"), refusal: Box::new(refusal) }
}
