//! The slice org encoded for Cedar the way a competent Cedar user would, for speed:
//!
//! - roles as policies: one `permit` per role entry, scoped `principal in Role::"R"` (org
//!   bindings) or `principal in ProjectRole::"P/R"` (project bindings); membership, direct,
//!   by team or by `all`, is entity data (parents), so Cedar's hierarchy does the union;
//! - "a project role replaces the org role" and restricted projects as entity data: each
//!   user's `projectBound` set and each resource's `restricted` flag;
//! - shares as template links, `permit(principal in ?principal, action in [...], resource
//!   in ?resource)`, one template per verb set; `*` shares link to the kind's collection
//!   entity, and a hierarchical resource's parent is its folder, so `in` covers subtrees;
//! - implication expanded into each policy's action list;
//! - policy slicing: each request gets only the owner policy, the policies of roles its
//!   principal holds, and the links whose principal and resource can match it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    Request, RestrictedExpression, SlotId, Template,
};

use portcullis::model::{Level, VerbSet};
use portcullis::policy::{Globals, OrgModel, RoleDef, RoleRef, Subject};

use super::world::Check;

fn uid(ty: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(EntityTypeName::from_str(ty).unwrap(), EntityId::new(id))
}

fn actions(verbs: VerbSet) -> String {
    let list: Vec<String> = verbs.iter().map(|v| format!("Action::\"{}\"", v.name())).collect();
    format!("[{}]", list.join(", "))
}

fn cedar_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn collection_key(kind: &str, project: Option<&str>) -> String {
    format!("{kind}|{}", project.unwrap_or(""))
}

fn resource_key(kind: &str, project: Option<&str>, id: &str) -> String {
    format!("{kind}|{}|{id}", project.unwrap_or(""))
}

/// The encoded org, the unsliced policy set, and what slicing needs.
pub struct CedarWorld {
    pub entities: Entities,
    pub all_policies: PolicySet,
    owner: EntityUid,
    owner_policy: Policy,
    /// Policies per role group entity (`Role::"R"` or `ProjectRole::"P/R"`).
    role_policies: HashMap<EntityUid, Vec<Policy>>,
    templates: HashMap<u8, Template>,
    /// (template bits, principal, resource) per share link.
    links: Vec<(u8, EntityUid, EntityUid)>,
    links_by_resource: HashMap<EntityUid, Vec<usize>>,
    /// Ancestors of each entity (parents, transitively), self excluded.
    ancestors: HashMap<EntityUid, Vec<EntityUid>>,
    hierarchical: HashSet<String>,
}

struct Builder<'a> {
    globals: &'a Globals,
    org: &'a OrgModel,
    parents: HashMap<EntityUid, HashSet<EntityUid>>,
    attrs: HashMap<EntityUid, HashMap<String, RestrictedExpression>>,
}

impl Builder<'_> {
    fn kind_name(&self, k: u16) -> &str {
        &self.globals.kinds.info(k).unwrap().name
    }

    fn project_name(&self, p: Option<u32>) -> Option<&str> {
        p.map(|p| &*self.org.projects[p as usize].id)
    }

    fn subject_uid(&self, s: Subject) -> EntityUid {
        match s {
            Subject::Member(m) => uid("User", &self.org.members[m as usize].id),
            Subject::Team(t) => uid("Team", &self.org.teams[t as usize].name),
            Subject::All => uid("Group", "all"),
        }
    }

    fn ensure(&mut self, e: EntityUid) {
        self.parents.entry(e).or_default();
    }

    fn add_parent(&mut self, child: EntityUid, parent: EntityUid) {
        self.ensure(parent.clone());
        self.parents.entry(child).or_default().insert(parent);
    }

    fn restricted(&self, project: Option<&str>) -> bool {
        project.is_some_and(|p| self.org.projects.iter().any(|x| &*x.id == p && x.restricted))
    }

    fn target_attrs(&self, kind: &str, project: Option<&str>, rid: &str) -> HashMap<String, RestrictedExpression> {
        let level = if project.is_some() { "project" } else { "organisation" };
        HashMap::from([
            ("kind".into(), RestrictedExpression::new_string(kind.into())),
            ("level".into(), RestrictedExpression::new_string(level.into())),
            ("project".into(), RestrictedExpression::new_string(project.unwrap_or("").into())),
            ("restricted".into(), RestrictedExpression::new_bool(self.restricted(project))),
            ("rid".into(), RestrictedExpression::new_string(rid.into())),
        ])
    }

    fn collection(&mut self, kind: &str, project: Option<&str>) -> EntityUid {
        let c = uid("Collection", &collection_key(kind, project));
        if !self.attrs.contains_key(&c) {
            let attrs = self.target_attrs(kind, project, "");
            self.attrs.insert(c.clone(), attrs);
            self.ensure(c.clone());
        }
        c
    }

    /// The resource entity (and, for hierarchical kinds, its folders up to `/`).
    fn resource(&mut self, kind: &str, project: Option<&str>, id: &str, hierarchical: bool) -> EntityUid {
        let r = uid("Resource", &resource_key(kind, project, id));
        if self.attrs.contains_key(&r) {
            return r;
        }
        let attrs = self.target_attrs(kind, project, id);
        self.attrs.insert(r.clone(), attrs);
        let c = self.collection(kind, project);
        self.add_parent(r.clone(), c);
        if hierarchical && id != "/" {
            let parent = match id.rsplit_once('/') {
                Some(("", _)) | None => "/",
                Some((p, _)) => p,
            };
            let p = self.resource(kind, project, parent, true);
            self.add_parent(r.clone(), p);
        }
        r
    }
}

fn entry_policy(id: &str, scope: &str, role: &RoleDef, b: &Builder<'_>, project: Option<&str>) -> Vec<Policy> {
    let mut out = Vec::new();
    for (n, e) in role.entries.iter().enumerate() {
        let kind = b.kind_name(e.kind);
        let hierarchical = b.globals.kinds.info(e.kind).unwrap().hierarchical;
        let mut when = format!("resource.kind == {} && resource.level == \"{}\"", cedar_str(kind), e.level.name());
        match (project, e.level) {
            // A project binding reaches project-level resources of its project only.
            (Some(_), Level::Organisation) => continue,
            (Some(p), Level::Project) => when += &format!(" && resource.project == {}", cedar_str(p)),
            (None, Level::Project) => {
                when += " && !resource.restricted && !principal.projectBound.contains(resource.project)"
            }
            (None, Level::Organisation) => {}
        }
        if let Some(rid) = &e.id {
            if hierarchical && &**rid == "/" {
                when += " && resource.rid like \"/*\"";
            } else if hierarchical {
                when += &format!(
                    " && (resource.rid == {0} || resource.rid like {1})",
                    cedar_str(rid),
                    cedar_str(&format!("{rid}/*"))
                );
            } else {
                when += &format!(" && resource.rid == {}", cedar_str(rid));
            }
        }
        let text = format!("permit(principal in {scope}, action in {}, resource) when {{ {when} }};", actions(e.verbs));
        let policy = Policy::parse(Some(PolicyId::new(format!("{id}-e{n}"))), &text).unwrap();
        out.push(policy);
    }
    out
}

impl CedarWorld {
    /// Encodes `org`, with resource entities for every share and for every request in `checks`.
    pub fn encode(globals: &Globals, org: &OrgModel, checks: &[Check]) -> CedarWorld {
        let mut b = Builder { globals, org, parents: HashMap::new(), attrs: HashMap::new() };
        let hierarchical: HashSet<String> =
            globals.kinds.iter().filter(|(_, k)| k.hierarchical).map(|(_, k)| k.name.to_string()).collect();

        // Role group entities and their members.
        let mut role_groups: HashMap<(RoleRef, Option<u32>), EntityUid> = HashMap::new();
        let mut project_bound: HashMap<u32, BTreeSet<String>> = HashMap::new();
        for binding in &org.bindings {
            let role = org.role(globals, binding.role).unwrap();
            let group = match binding.project {
                None => uid("Role", &role.name),
                Some(p) => uid("ProjectRole", &format!("{}/{}", org.projects[p as usize].id, role.name)),
            };
            role_groups.insert((binding.role, binding.project), group.clone());
            let subject = b.subject_uid(binding.subject);
            b.add_parent(subject, group);
            if let Some(p) = binding.project {
                let members: Vec<u32> = match binding.subject {
                    Subject::Member(m) => vec![m],
                    Subject::Team(t) => org.teams[t as usize].members.clone(),
                    Subject::All => (0..org.members.len() as u32).collect(),
                };
                for m in members {
                    project_bound.entry(m).or_default().insert(org.projects[p as usize].id.to_string());
                }
            }
        }
        for (t, team) in org.teams.iter().enumerate() {
            for &m in &team.members {
                b.add_parent(uid("User", &org.members[m as usize].id), uid("Team", &team.name));
            }
            b.ensure(uid("Team", &org.teams[t].name));
        }
        for (m, member) in org.members.iter().enumerate() {
            let user = uid("User", &member.id);
            b.add_parent(user.clone(), uid("Group", "all"));
            let bound = project_bound.get(&(m as u32)).cloned().unwrap_or_default();
            let set = RestrictedExpression::new_set(bound.into_iter().map(RestrictedExpression::new_string));
            b.attrs.insert(user, HashMap::from([("projectBound".to_string(), set)]));
        }

        // Role policies, for the roles this org binds.
        let mut role_policies: HashMap<EntityUid, Vec<Policy>> = HashMap::new();
        for ((role_ref, project), group) in &role_groups {
            let role = org.role(globals, *role_ref).unwrap();
            let id = format!("{}", group).replace(['"', ':'], "_");
            let policies = entry_policy(&id, &group.to_string(), role, &b, b.project_name(*project));
            role_policies.insert(group.clone(), policies);
        }
        let owner = uid("User", &org.members[org.owner as usize].id);
        let owner_policy =
            Policy::parse(Some(PolicyId::new("owner")), format!("permit(principal == {owner}, action, resource);"))
                .unwrap();

        // Shares: templates per verb set, links to the resource (or the collection for `*`).
        let mut templates: HashMap<u8, Template> = HashMap::new();
        let mut links = Vec::new();
        for share in &org.shares {
            let bits = share.verbs.bits();
            templates.entry(bits).or_insert_with(|| {
                let text = format!(
                    "permit(principal in ?principal, action in {}, resource in ?resource);",
                    actions(share.verbs)
                );
                Template::parse(Some(PolicyId::new(format!("share-{bits}"))), text).unwrap()
            });
            let kind = b.kind_name(share.kind).to_string();
            let project = b.project_name(share.project).map(str::to_string);
            let resource = if &*share.id == "*" {
                b.collection(&kind, project.as_deref())
            } else {
                b.resource(&kind, project.as_deref(), &share.id, hierarchical.contains(&kind))
            };
            links.push((bits, b.subject_uid(share.subject), resource));
        }
        for c in checks {
            let h = hierarchical.contains(&c.kind);
            match &c.id {
                Some(id) => b.resource(&c.kind, c.project.as_deref(), id, h),
                None => b.collection(&c.kind, c.project.as_deref()),
            };
        }

        let mut all_policies = PolicySet::new();
        all_policies.add(owner_policy.clone()).unwrap();
        for ps in role_policies.values() {
            for p in ps {
                all_policies.add(p.clone()).unwrap();
            }
        }
        for t in templates.values() {
            all_policies.add_template(t.clone()).unwrap();
        }
        let mut links_by_resource: HashMap<EntityUid, Vec<usize>> = HashMap::new();
        for (i, (bits, principal, resource)) in links.iter().enumerate() {
            let vals =
                HashMap::from([(SlotId::principal(), principal.clone()), (SlotId::resource(), resource.clone())]);
            all_policies
                .link(PolicyId::new(format!("share-{bits}")), PolicyId::new(format!("link-{i}")), vals)
                .unwrap();
            links_by_resource.entry(resource.clone()).or_default().push(i);
        }

        let mut ancestors = HashMap::new();
        for e in b.parents.keys() {
            let mut seen = Vec::new();
            let mut stack: Vec<EntityUid> = b.parents[e].iter().cloned().collect();
            while let Some(p) = stack.pop() {
                if !seen.contains(&p) {
                    stack.extend(b.parents.get(&p).into_iter().flatten().cloned());
                    seen.push(p);
                }
            }
            ancestors.insert(e.clone(), seen);
        }
        let entities = b
            .parents
            .iter()
            .map(|(e, parents)| {
                let attrs = b.attrs.get(e).cloned().unwrap_or_default();
                Entity::new(e.clone(), attrs, parents.clone()).unwrap()
            })
            .collect::<Vec<_>>();
        let entities = Entities::from_entities(entities, None).unwrap();
        CedarWorld {
            entities,
            all_policies,
            owner,
            owner_policy,
            role_policies,
            templates,
            links,
            links_by_resource,
            ancestors,
            hierarchical,
        }
    }

    fn resource_uid(&self, c: &Check) -> EntityUid {
        match &c.id {
            Some(id) => {
                let id =
                    if self.hierarchical.contains(&c.kind) && id.len() > 1 { id.trim_end_matches('/') } else { id };
                uid("Resource", &resource_key(&c.kind, c.project.as_deref(), id))
            }
            None => uid("Collection", &collection_key(&c.kind, c.project.as_deref())),
        }
    }

    pub fn request(&self, c: &Check) -> Request {
        let action = uid("Action", c.verb.name());
        Request::new(uid("User", &c.principal), action, self.resource_uid(c), Context::empty(), None).unwrap()
    }

    /// The policies that can apply to this request's principal and resource.
    pub fn slice(&self, c: &Check) -> PolicySet {
        let principal = uid("User", &c.principal);
        let resource = self.resource_uid(c);
        let mut set = PolicySet::new();
        if principal == self.owner {
            set.add(self.owner_policy.clone()).unwrap();
        }
        let principal_groups: Vec<EntityUid> = std::iter::once(principal.clone())
            .chain(self.ancestors.get(&principal).cloned().unwrap_or_default())
            .collect();
        for g in &principal_groups {
            for p in self.role_policies.get(g).into_iter().flatten() {
                set.add(p.clone()).unwrap();
            }
        }
        let resource_groups: Vec<EntityUid> = std::iter::once(resource.clone())
            .chain(self.ancestors.get(&resource).cloned().unwrap_or_default())
            .collect();
        let mut linked = HashSet::new();
        for r in &resource_groups {
            for &i in self.links_by_resource.get(r).into_iter().flatten() {
                let (bits, p, _) = &self.links[i];
                if principal_groups.contains(p) {
                    if linked.insert(*bits) {
                        set.add_template(self.templates[bits].clone()).unwrap();
                    }
                    let vals = HashMap::from([
                        (SlotId::principal(), p.clone()),
                        (SlotId::resource(), self.links[i].2.clone()),
                    ]);
                    set.link(PolicyId::new(format!("share-{bits}")), PolicyId::new(format!("link-{i}")), vals).unwrap();
                }
            }
        }
        set
    }

    pub fn decide(authorizer: &Authorizer, request: &Request, policies: &PolicySet, entities: &Entities) -> bool {
        authorizer.is_authorized(request, policies, entities).decision() == Decision::Allow
    }
}
