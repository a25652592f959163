//! `config.toml` read as a user writes it: the shipped file, and each mistake named at its line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]

use super::*;

const GOOD: &str = r#"
[gateway]
listen = "127.0.0.1:8080"
policies = "pol"

[limits]
max_headers = 32

[[upstream]]
name = "platform"
backends = ["127.0.0.1:9000", "127.0.0.1:9001"]
health_check = { path = "/healthz", interval_secs = 2 }

[[route]]
path = "/v1/orgs/{org}/registries/{id}"
kind = "registries"
upstream = "platform"

[[route]]
path = "/v1/orgs/{org}/projects/{project}/containers/{id}/restart"
kind = "containers"
upstream = "platform"
methods = { POST = "update" }
"#;

fn errors(text: &str) -> String {
    parse(Path::new("conf/config.toml"), text).unwrap_err().to_string()
}

#[test]
fn a_good_config_is_read_with_defaults_and_relative_paths() {
    let c = parse(Path::new("conf/config.toml"), GOOD).unwrap();
    assert_eq!(c.gateway.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.gateway.policies, PathBuf::from("conf/pol"));
    assert!(!c.gateway.explain_denials);
    assert_eq!(c.limits.max_headers, 32);
    assert_eq!(c.limits.max_header_bytes, Limits::default().max_header_bytes);
    assert_eq!(c.upstreams[0].backends.len(), 2);
    assert_eq!(c.upstreams[0].health_check.as_ref().unwrap().interval, Duration::from_secs(2));
    assert_eq!(c.routes.routes().len(), 2);
}

#[test]
fn every_mistake_is_located_with_its_fix() {
    let bad = GOOD
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"localhost\"\nlisen = 1")
        .replace("upstream = \"platform\"\nmethods", "upstream = \"platfrom\"\nmethods")
        .replace("POST = \"update\"", "POST = \"updte\"")
        .replace("max_headers = 32", "max_headers = 0");
    let e = errors(&bad);
    assert!(e.contains("config is invalid (5 errors)"), "{e}");
    assert!(e.contains("conf/config.toml:3:10: 'localhost' is not a socket address"), "{e}");
    assert!(e.contains("conf/config.toml:4:1: unknown key 'lisen' in [gateway], did you mean 'listen'?"), "{e}");
    assert!(e.contains("'max_headers' must be at least 1, found 0"), "{e}");
    assert!(e.contains("conf/config.toml:23:12: unknown upstream 'platfrom' (declare it with [[upstream]]), did you mean 'platform'?"), "{e}");
    assert!(e.contains("conf/config.toml:24:20: 'updte' is not a verb for method POST (use list, read, create, update or delete), did you mean 'update'?"), "{e}");
}

#[test]
fn route_pattern_errors_point_at_the_route() {
    let bad = GOOD.replace("/v1/orgs/{org}/registries/{id}", "/v1/orgs/{tenant}/registries/{id}");
    let e = errors(&bad);
    assert!(
        e.contains("conf/config.toml:15:8: route '/v1/orgs/{tenant}/registries/{id}': unknown capture '{tenant}'"),
        "{e}"
    );
}

#[test]
fn auth_keys_are_read_and_checked() {
    let text = format!(
        "{GOOD}\n[auth]\nissuer = \"https://id.test\"\n[[auth.key]]\nkid = \"a\"\nalgorithm = \"RS256\"\nfile = \"k/a.pem\"\n[[auth.key]]\nkid = \"b\"\nalgorithm = \"ES256\"\nfile = \"k/b.pem\"\n"
    );
    let c = parse(Path::new("conf/config.toml"), &text).unwrap();
    let auth = c.auth.unwrap();
    assert_eq!(auth.principal_claim, "sub");
    assert_eq!(auth.issuer.as_deref(), Some("https://id.test"));
    assert_eq!(auth.keys.len(), 2);
    assert_eq!(auth.keys[1].file, PathBuf::from("conf/k/b.pem"));
    let bad = text.replace("\"ES256\"", "\"ES265\"").replace("kid = \"b\"", "kid = \"a\"");
    let e = errors(&bad);
    assert!(e.contains("unknown algorithm 'ES265' (use RS256"), "{e}");
    assert!(e.contains("or HS512), did you mean 'ES256'?"), "{e}");
    assert!(e.contains("two keys have kid 'a'"), "{e}");
    let no_kid = text.replace("kid = \"b\"\n", "");
    assert!(errors(&no_kid).contains("every [[auth.key]] needs a `kid`"));
}

#[test]
fn a_config_without_gateway_or_routes_says_what_to_add() {
    let e = errors("[[upstream]]\nname = \"u\"\nbackends = []\n");
    assert!(e.contains("missing key 'gateway'"), "{e}");
    assert!(e.contains("has no [[route]]"), "{e}");
    assert!(e.contains("upstream 'u' has no backends"), "{e}");
}

#[test]
fn the_admin_table_names_its_store_and_refuses_two_or_a_bad_url() {
    let c = parse(Path::new("conf/config.toml"), &format!("{GOOD}\n[admin]\nlisten = \"127.0.0.1:9090\"\n")).unwrap();
    let admin = c.admin.unwrap();
    assert_eq!(admin.store, StoreLocation::Sqlite { data_dir: PathBuf::from("conf/data") });
    assert_eq!(admin.transfer_ttl_secs, 7 * 24 * 3600);
    assert_eq!(admin.revision_wait, Duration::from_millis(2000));
    let pg = format!("{GOOD}\n[admin]\nlisten = \"127.0.0.1:9090\"\npostgres = \"postgres://app@db/p\"\n");
    let store = parse(Path::new("conf/config.toml"), &pg).unwrap().admin.unwrap().store;
    assert_eq!(store, StoreLocation::Postgres { url: "postgres://app@db/p".into() });
    let both = pg.replace("postgres = ", "data_dir = \"d\"\npostgres = ");
    assert!(errors(&both).contains("either as `data_dir` (SQLite) or as `postgres`"));
    let mysql = pg.replace("postgres://", "mysql://");
    assert!(errors(&mysql).contains("`postgres` must be a postgres:// or postgresql:// URL"));
    let typo = pg.replace("postgres = ", "operator = [\"x\"]\npostgres = ");
    assert!(errors(&typo).contains("did you mean 'operators'?"), "{}", errors(&typo));
}

#[test]
fn a_pdp_section_lists_its_clients_by_token_hash_and_each_mistake_is_named() {
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let good = format!(
        "{GOOD}\n[pdp]\nlisten = \"127.0.0.1:8181\"\n[[pdp.client]]\nname = \"edge\"\nsha256 = \"{hash}\"\norg = \"acme\"\n"
    );
    let c = parse(Path::new("conf/config.toml"), &good).unwrap();
    let pdp = c.pdp.unwrap();
    assert_eq!(
        (pdp.clients[0].name.as_str(), pdp.clients[0].org.as_deref(), pdp.clients[0].reasons),
        ("edge", Some("acme"), false)
    );
    let e = errors(&format!("{GOOD}\n[pdp]\nlisten = \"127.0.0.1:8181\"\n"));
    assert!(e.contains("[pdp] has no [[pdp.client]]") && e.contains("portcullis token pdp"), "{e}");
    let e = errors(&format!(
        "{GOOD}\n[pdp]\nlisten = \"127.0.0.1:8181\"\n[[pdp.client]]\nname = \"edge\"\nsha256 = \"abc\"\n"
    ));
    assert!(e.contains("`sha256` must be the 64 hex digits"), "{e}");
    let twice = format!("[[pdp.client]]\nname = \"edge\"\nsha256 = \"{hash}\"\n");
    let e = errors(&format!("{GOOD}\n[pdp]\nlisten = \"127.0.0.1:8181\"\n{twice}{twice}"));
    assert!(e.contains("PDP client 'edge' is listed twice") && e.contains("listed twice: remove one"), "{e}");
}

#[test]
fn a_console_section_signs_in_through_the_auth_issuer_and_names_each_mistake() {
    let auth = "[auth]\nissuer = \"https://id.test\"\n[[auth.key]]\nalgorithm = \"RS256\"\nfile = \"k.pem\"\n";
    let console =
        "[console]\nclient_id = \"portcullis-console\"\nredirect_url = \"https://admin.test/console/callback\"\n";
    let c = parse(Path::new("conf/config.toml"), &format!("{GOOD}\n{auth}{console}client_secret_file = \"s/c\"\n"))
        .unwrap();
    let sign_in = c.console.unwrap();
    assert_eq!(sign_in.client_id, "portcullis-console");
    assert_eq!(sign_in.client_secret_file.as_deref(), Some(Path::new("conf/s/c")));
    // No issuer to sign in through.
    let e = errors(&format!("{GOOD}\n[auth]\n[[auth.key]]\nalgorithm = \"RS256\"\nfile = \"k.pem\"\n{console}"));
    assert!(e.contains("set `issuer` under [auth]"), "{e}");
    // A redirect that is not this console's callback, a missing client id, a stray key.
    let e = errors(&format!("{GOOD}\n{auth}[console]\nclient_id = \"c\"\nredirect_url = \"https://admin.test/cb\"\n"));
    assert!(e.contains("must be an http:// or https:// URL ending in /console/callback"), "{e}");
    let e = errors(&format!(
        "{GOOD}\n{auth}[console]\nredirect_url = \"https://a.test/console/callback\"\nscope = \"x\"\n"
    ));
    assert!(e.contains("client_id") && e.contains("scope"), "{e}");
}
