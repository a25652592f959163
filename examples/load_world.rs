//! Writes the engine benchmark's world (10,000 orgs, 100,000 members, 1,000,000 shares,
//! 1,000 custom roles) as a gateway setup for `benches/load.sh`:
//!
//! - `policies/`: the world as policy files (kinds and global roles, then 100 orgs a file);
//! - `config.toml`: a gateway on `--listen` in front of `--upstream`, routes for every kind,
//!   and an HS256 key (`hmac.secret`, random per run);
//! - `requests.lua`: a wrk script that cycles over `--requests` requests spread over the
//!   whole world, each one the world allows, each with a token for its principal.
//!
//! ```sh
//! cargo run --release --example load_world -- --out /tmp/world --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "bench tooling")]

#[allow(dead_code, reason = "shared with the decide benchmark")]
#[path = "../benches/support/world.rs"]
mod world;

use std::fmt::Write as _;
use std::path::PathBuf;

use portcullis::policy::{PolicySet, render_globals, render_org};
use portcullis::{Verb, decide};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_string())
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn write_policies(set: &PolicySet, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("0000-kinds-and-roles.toml"), render_globals(&set.kinds, &set.roles)).unwrap();
    for (n, chunk) in set.orgs.chunks(100).enumerate() {
        let text: String = chunk.iter().map(render_org).collect();
        std::fs::write(dir.join(format!("orgs-{:04}.toml", n + 1)), text).unwrap();
    }
}

fn routes() -> String {
    let mut out = String::new();
    for (kind, org_level, project_level, hierarchical) in world::KINDS {
        let item = if hierarchical { "{id...}" } else { "{id}" };
        let mut scopes = Vec::new();
        if org_level {
            scopes.push("/v1/orgs/{org}".to_string());
        }
        if project_level {
            scopes.push("/v1/orgs/{org}/projects/{project}".to_string());
        }
        for scope in scopes {
            for path in [format!("{scope}/{kind}"), format!("{scope}/{kind}/{item}")] {
                writeln!(out, "[[route]]\npath = \"{path}\"\nkind = \"{kind}\"\nupstream = \"platform\"\n").unwrap();
            }
        }
    }
    out
}

fn target(c: &world::Check) -> (&'static str, String) {
    let mut path = format!("/v1/orgs/{}", c.org);
    if let Some(p) = &c.project {
        write!(path, "/projects/{p}").unwrap();
    }
    write!(path, "/{}", c.kind).unwrap();
    if let Some(id) = &c.id {
        if !id.starts_with('/') {
            path.push('/');
        }
        path.push_str(id);
    }
    let method = match (c.verb, c.id.is_some()) {
        (Verb::List, false) => "GET",
        (Verb::Create, false) => "POST",
        (Verb::Read, true) => "GET",
        (Verb::Update, true) => "PUT",
        (Verb::Delete, true) => "DELETE",
        _ => "",
    };
    (method, path)
}

fn main() {
    let out = PathBuf::from(arg("--out", "target/load-world"));
    let listen = arg("--listen", "127.0.0.1:8080");
    let upstream = arg("--upstream", "127.0.0.1:9000");
    let wanted: usize = arg("--requests", "1000").parse().unwrap();
    std::fs::create_dir_all(&out).unwrap();

    let set = world::build();
    write_policies(&set, &out.join("policies"));

    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret).unwrap();
    let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(out.join("hmac.secret"), &secret_hex).unwrap();
    let config = format!(
        "[gateway]\nlisten = \"{listen}\"\npolicies = \"policies\"\n\n[auth]\n[[auth.key]]\nkid = \"load\"\nalgorithm = \"HS256\"\nfile = \"hmac.secret\"\n\n\
         [[upstream]]\nname = \"platform\"\nbackends = [\"{upstream}\"]\n\n{}",
        routes()
    );
    std::fs::write(out.join("config.toml"), config).unwrap();

    // Requests the world allows, spread over every org, each mapped to an HTTP method.
    let snapshot = portcullis::policy::compile(portcullis::policy::validate(&set).unwrap());
    let key = jsonwebtoken::EncodingKey::from_secret(secret_hex.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("load".into());
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 24 * 3600;
    let mut lua = String::from("local requests = {\n");
    let mut api_tokens = std::collections::BTreeMap::new();
    let mut found = 0;
    let mut seed = 1;
    while found < wanted {
        for c in world::checks(&set, 10 * wanted, seed, |rng| rng.below(world::ORGS)) {
            let (method, path) = target(&c);
            if found == wanted || method.is_empty() || !decide(&snapshot, &c.request()).allowed {
                continue;
            }
            // Users carry JWTs; a service account of an org carries that org's API token.
            let token = if c.service_account {
                let token = format!(
                    "pcat_{}",
                    portcullis::auth::hex(&portcullis::auth::TokenCache::digest(&format!(
                        "load token of {}/{}",
                        c.org, c.principal
                    )))
                );
                let sha256 = portcullis::auth::hex(&portcullis::auth::TokenCache::digest(&token));
                api_tokens.insert((c.org.clone(), c.principal.clone()), sha256);
                token
            } else {
                let claims = serde_json::json!({ "sub": c.principal, "exp": exp });
                jsonwebtoken::encode(&header, &claims, &key).unwrap()
            };
            writeln!(lua, "  {{ {}, {}, {} }},", quote(method), quote(&path), quote(&token)).unwrap();
            found += 1;
        }
        seed += 1;
    }
    lua.push_str(
        "}\nlocal i = 0\nrequest = function()\n  i = i % #requests + 1\n  local r = requests[i]\n  \
         return wrk.format(r[1], r[2], { [\"Authorization\"] = \"Bearer \" .. r[3], [\"Host\"] = \"load.test\" }, nil)\nend\n",
    );
    std::fs::write(out.join("requests.lua"), lua).unwrap();
    let entries: String = api_tokens
        .iter()
        .map(|((org, account), sha256)| {
            format!("\n[[auth.api_token]]\norg = \"{org}\"\naccount = \"{account}\"\nsha256 = \"{sha256}\"\n")
        })
        .collect();
    // `[[auth.api_token]]` belongs under `[auth]`, before the upstream and routes.
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap().replacen(
        "\n[[upstream]]",
        &format!("{entries}\n[[upstream]]"),
        1,
    );
    std::fs::write(out.join("config.toml"), config).unwrap();
    eprintln!("wrote {} ({} requests)", out.display(), found);
}
