//! The `portcullis` command line. `main` only calls [`run`]; errors are reported here, at
//! the binary's edge, as one readable message.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client;
use crate::conformance;
use crate::decide::Request;
use crate::explain::explain;
use crate::model::Verb;
use crate::source::load_policy_dir;

/// `println!` for a command's output: a reader that has gone (`portcullis org audit | head`)
/// ends the command quietly instead of with a panic; any other write error is reported.
macro_rules! out {
    ($($arg:tt)*) => {
        write_out(format_args!($($arg)*))
    };
}

fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

#[derive(Parser, Debug)]
#[command(name = "portcullis", version, about = "A policy enforcement gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway on a config file and its policies folder.
    Serve {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Take over the listening sockets of the gateway running on the same config: start
        /// this, then send the running one SIGQUIT; it hands its sockets over, finishes its
        /// requests in flight and exits. No connection is refused in between.
        #[arg(long)]
        upgrade: bool,
    },
    /// Run the gateway on a config in front of the sample platform, and print demo tokens
    /// and curl lines to try (the config must set `demo_key = true` under [auth]).
    Demo {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Run the sample platform upstream alone: it answers every request with what it received.
    Upstream {
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
    },
    /// Service accounts' API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check a policies folder; print every problem with file:line:column.
    Validate {
        /// The folder of *.toml policy files.
        dir: PathBuf,
    },
    /// Run conformance case files (or folders of them); ends with "N passed, N failed".
    Test {
        /// Case files or folders; folders are searched recursively, and files under a
        /// folder named `invalid` must be rejected.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also print the errors each invalid case was rejected with.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Orgs in the store: create (operators), show, audit log.
    Org {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::OrgCommand,
    },
    /// Members and service accounts of an org.
    Member {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::MemberCommand,
    },
    /// Custom org roles and their bindings.
    Role {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::RoleCommand,
    },
    /// Share one resource, list its direct grants, revoke one.
    Share {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::ShareCommand,
    },
    /// Hand an org's ownership over: start, confirm (both parties), cancel.
    Transfer {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::TransferCommand,
    },
    /// Teams of an org and their members.
    Team {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::TeamCommand,
    },
    /// Projects of an org.
    Project {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::ProjectCommand,
    },
    /// Bindings of an org (make them with `role assign`).
    Binding {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::BindingCommand,
    },
    /// Access requests: ask for access for a while, approve or deny others'.
    Request {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::RequestCommand,
    },
    /// What a principal can access, or has shared.
    Acl {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::AclCommand,
    },
    /// Who can do what on one resource, and why (access review).
    Access {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::AccessCommand,
    },
    /// What the gateway would do with one request, step by step, without forwarding it:
    /// canonical path, route, principal, resource, decision and why.
    Explain {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// The caller's token (a JWT or an API token); or set PORTCULLIS_TOKEN, which keeps
        /// it out of the process list.
        #[arg(long, env = "PORTCULLIS_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
        /// A header of the request, `Name: value` (repeat for more).
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
        /// GET, POST, ...
        method: String,
        /// The request target, e.g. /v1/orgs/acme/projects/web/containers/c-1
        path: String,
    },
    /// Decide one request and print allow or deny and why; exits 0 on allow, 1 on deny.
    /// Against a policies folder (`--policies`), or as the gateway of a config decides
    /// (`--config`: its policies and, with `[admin]`, the orgs in its store, read only).
    #[command(group(clap::ArgGroup::new("source").required(true).args(["policies", "config"])))]
    Check {
        #[arg(long)]
        policies: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        principal: String,
        #[arg(long)]
        org: String,
        /// The project of a project-level resource; omit for organisation level.
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        kind: String,
        /// The resource id; omit to address the collection.
        #[arg(long)]
        id: Option<String>,
        /// list, read, create, update or delete.
        #[arg(long, value_parser = parse_verb)]
        verb: Verb,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Make a new API token for a service account: prints the token (once) and the
    /// [[auth.api_token]] entry, with its hash, to add to config.toml.
    New {
        /// The org of the service account: the token is valid there and nowhere else.
        #[arg(long)]
        org: String,
        /// The service account the token identifies (listed in the org's `service_accounts`).
        #[arg(long)]
        account: String,
    },
    /// Make a token for a policy enforcement point calling the AuthZEN API ([pdp]): prints
    /// the token (once) and the [[pdp.client]] entry, with its hash, to add to config.toml.
    Pdp {
        /// Who the client is (named in the PDP's answers to it and its errors).
        #[arg(long)]
        name: String,
        /// The org its requests are decided in when they name none.
        #[arg(long)]
        org: Option<String>,
        /// Its decisions carry `context.reason` (why allowed or denied).
        #[arg(long)]
        reasons: bool,
    },
}

fn parse_verb(s: &str) -> Result<Verb, String> {
    Verb::parse(s).ok_or_else(|| format!("'{s}' is not a verb: use list, read, create, update or delete"))
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, upgrade } => serve(&config, false, upgrade),
        Command::Demo { config } => serve(&config, true, false),
        Command::Upstream { listen } => upstream(listen),
        Command::Token { command: TokenCommand::New { org, account } } => match crate::auth::new_api_token() {
            Ok((token, digest)) => {
                out!("{token}");
                eprintln!(
                    "The token above is shown once: give it to service account '{account}' of org '{org}' (as \
                     `Authorization: Bearer <token>`), and keep it out of logs.\nAdd this to config.toml and restart \
                     the gateway:\n\n[[auth.api_token]]\norg = \"{org}\"\naccount = \"{account}\"\nsha256 = \"{digest}\""
                );
                ExitCode::SUCCESS
            }
            Err(e) => report(&e),
        },
        Command::Token { command: TokenCommand::Pdp { name, org, reasons } } => match crate::auth::new_api_token() {
            Ok((token, digest)) => {
                out!("{token}");
                let org = org.map(|o| format!("org = \"{o}\"\n")).unwrap_or_default();
                eprintln!(
                    "The token above is shown once: give it to PDP client '{name}' (as `Authorization: Bearer <token>`), \
                     and keep it out of logs.\nAdd this under [pdp] in config.toml and restart the gateway:\n\n\
                     [[pdp.client]]\nname = \"{name}\"\nsha256 = \"{digest}\"\n{org}reasons = {reasons}"
                );
                ExitCode::SUCCESS
            }
            Err(e) => report(&e),
        },
        Command::Validate { dir } => match load_policy_dir(&dir) {
            Ok(snapshot) => {
                let orgs = snapshot.orgs().count();
                let shares: usize = snapshot.orgs().map(|o| o.model.shares.len()).sum();
                let kinds = snapshot.globals().kinds.len();
                out!("{}: valid ({kinds} kinds, {orgs} orgs, {shares} shares)", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => report(&e),
        },
        Command::Test { paths, verbose } => match conformance::run(&paths) {
            Ok(report) => {
                for f in &report.failures {
                    out!("FAIL {f}");
                }
                if verbose {
                    for (file, errors) in &report.rejections {
                        out!("rejected as expected: {}\n{errors}", file.display());
                    }
                }
                out!("{}", report.summary());
                if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
            }
            Err(e) => report(&e),
        },
        Command::Org { conn, command } => {
            let call = client::org_call(&conn, &command);
            match command {
                client::OrgCommand::Export { .. } => match call.and_then(|call| client::send(&conn, &call)) {
                    Ok(answer) => match client::exported(&answer) {
                        Some(text) => {
                            out!("{}", text.trim_end());
                            ExitCode::SUCCESS
                        }
                        None => report(&format!("the admin API answered without a policy: {answer}")),
                    },
                    Err(e) => report(&e),
                },
                client::OrgCommand::Apply { .. } => match call.and_then(|call| client::send(&conn, &call)) {
                    Ok(answer) => {
                        out!("{}", client::planned(&answer));
                        ExitCode::SUCCESS
                    }
                    Err(e) => report(&e),
                },
                _ => admin_call(&conn, call),
            }
        }
        Command::Member { conn, command } => admin_call(&conn, client::member_call(&conn, &command)),
        Command::Role { conn, command } => admin_call(&conn, client::role_call(&conn, &command)),
        Command::Share { conn, command } => admin_call(&conn, client::share_call(&conn, &command)),
        Command::Transfer { conn, command } => admin_call(&conn, client::transfer_call(&conn, &command)),
        Command::Acl { conn, command } => admin_call(&conn, client::acl_call(&conn, &command)),
        Command::Access { conn, command } => admin_call(&conn, client::access_call(&conn, &command)),
        Command::Request { conn, command } => admin_call(&conn, client::request_call(&conn, &command)),
        Command::Team { conn, command } => admin_call(&conn, client::team_call(&conn, &command)),
        Command::Project { conn, command } => admin_call(&conn, client::project_call(&conn, &command)),
        Command::Binding { conn, command } => admin_call(&conn, client::binding_call(&conn, &command)),
        Command::Explain { config, token, json, headers, method, path } => {
            explain_request(&config, token.as_deref(), &headers, json, &method, &path)
        }
        Command::Check { policies, config, principal, org, project, kind, id, verb } => {
            let snapshot = match (policies, config) {
                (Some(dir), _) => load_policy_dir(&dir).map_err(|e| e.to_string()),
                (None, Some(config)) => as_gateway_decides(&config),
                (None, None) => Err("give --policies DIR or --config FILE".to_string()),
            };
            let snapshot = match snapshot {
                Ok(s) => s,
                Err(e) => return report(&e),
            };
            let request = Request {
                org: &org,
                principal: crate::conformance::caller_for(&snapshot, &org, &principal),
                project: project.as_deref(),
                kind: &kind,
                id: id.as_deref(),
                verb,
                at: crate::instant::now(),
            };
            let explained = explain(&snapshot, &request);
            out!("{explained}");
            // Scripts read the answer from the status: 0 allow, 1 deny.
            if explained.decision.allowed { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
    }
}

/// Loads config, policies and keys, then runs the gateway. A config or key that does not load
/// stops it; policies that do not validate are reported and the gateway starts *not ready*
/// (503 for every request) until a reload brings a valid set: it never decides without one.
/// With `demo`, it also runs the sample platform on the upstreams' addresses, with a key
/// generated for this run, and prints tokens and curl lines.
fn serve(path: &std::path::Path, demo: bool, upgrade: bool) -> ExitCode {
    let config = match crate::config::load(path) {
        Ok(c) => c,
        Err(e) => return report(&e),
    };
    let demo = if demo {
        let key = crate::demo::DemoKey::generate();
        match key.and_then(|key| Ok((crate::demo::check(&config)?, key))) {
            Ok(d) => Some(d),
            Err(e) => return report(&e),
        }
    } else {
        None
    };
    let (policy, error) = crate::reload::LivePolicy::load(&config.gateway.policies);
    if let Some(e) = error {
        eprintln!(
            "error: the policies do not validate; not ready (every request is answered 503) until they do:\n{}",
            e.to_string().trim_end()
        );
    }
    let secret = demo.as_ref().map(|(_, key)| key.secret());
    let verifier = match config.auth.as_ref().map(|a| crate::auth::Verifier::load_with_demo(a, secret)).transpose() {
        Ok(v) => v,
        Err(e) => return report(&e),
    };
    match &config.auth {
        None => eprintln!("warning: {} has no [auth]: every request will be refused with 401", path.display()),
        Some(a) if a.keys.is_empty() && secret.is_none() => eprintln!(
            "warning: {} has no [[auth.key]] and only `portcullis demo` has a demo key: every request will be \
             refused with 401",
            path.display()
        ),
        Some(_) => {}
    }
    if let Some(spec) = &config.log
        && let Err(e) = crate::decisions::install(spec)
    {
        return report(&e);
    }
    let policy = std::sync::Arc::new(policy);
    let tokens = std::sync::Arc::new(crate::auth::StoredTokens::default());
    let routes = config.routes.routes().iter().map(|r| r.path.clone()).collect();
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new(routes));
    // The routes are published with the policies, and reload with them.
    let source = crate::reload::RouteSource {
        config: path.to_path_buf(),
        upstreams: config.upstreams.iter().map(|u| u.name.clone()).collect(),
        metrics: Some(metrics.clone()),
    };
    if let Err(e) = policy.follow_routes(source, config.routes.clone()) {
        return report(&e);
    }
    // The demo always has an admin API, on a store it throws away, holding the files' orgs.
    let scratch = match demo.as_ref().map(|_| crate::demo::Scratch::new()).transpose() {
        Ok(s) => s,
        Err(e) => return report(&e),
    };
    let admin = match &scratch {
        Some(dir) => Some(crate::demo::admin(&config, dir.0.clone())),
        None => config.admin.clone(),
    };
    let control = match &admin {
        Some(admin) => match crate::control::open(admin, policy.clone(), tokens.clone(), metrics.clone()) {
            Ok(c) => Some((admin.listen, c)),
            Err(e) => return report(&e),
        },
        None => None,
    };
    let imported = match (&scratch, &control) {
        (Some(_), Some((_, control))) => match control.store.block_on(control.import_file_orgs()) {
            Ok(ids) => ids,
            Err(e) => return report(&e),
        },
        _ => Vec::new(),
    };
    // One verifier for the gateway and the admin API; with a control plane it also knows
    // the API tokens issued through it.
    let verifier = match (verifier, &control) {
        (Some(v), Some(_)) => Some(std::sync::Arc::new(v.with_stored_tokens(tokens))),
        (v, _) => v.map(std::sync::Arc::new),
    };
    let upstreams = crate::gateway::upstream_groups(&config);
    let mut extras = crate::gateway::Extras::default();
    if let Some((listen, control)) = control {
        eprintln!("portcullis: admin API listening on {listen}");
        let observed = crate::admin::Observed {
            config: std::sync::Arc::new(config.clone()),
            metrics: metrics.clone(),
            upstreams: std::sync::Arc::new(upstreams.clone()),
            policy: policy.clone(),
        };
        let demo = config.auth.as_ref().is_some_and(|a| a.demo_key);
        let oidc = match crate::console::oidc::Oidc::configured(&config, verifier.as_ref()) {
            Ok(o) => o,
            Err(e) => return report(&e),
        };
        let how = match (&oidc, demo) {
            (Some(o), _) => format!(" (sign-in through {})", o.issuer()),
            (None, true) => " (demo sign-in)".to_string(),
            (None, false) => " (no sign-in configured: add [console])".to_string(),
        };
        eprintln!("portcullis: console at http://{listen}/console{how}");
        let secure = config.console.as_ref().is_some_and(|c| c.redirect_url.starts_with("https://"));
        let console = crate::console::Console::new(control.clone(), demo, oidc, secure);
        let api = crate::admin::AdminApi { control, verifier: verifier.clone(), observed, console };
        extras.admin = Some((listen, std::sync::Arc::new(api)));
    }
    if let Some(pdp) = &config.pdp {
        eprintln!("portcullis: AuthZEN decision API listening on {} ({} clients)", pdp.listen, pdp.clients.len());
        extras.pdp = Some((pdp.listen, std::sync::Arc::new(crate::pdp::PdpApi::new(pdp, policy.clone()))));
    }
    if let (Some((addrs, key)), Some(admin)) = (&demo, &admin) {
        extras.sample.clone_from(addrs);
        extras.sample_app = std::sync::Arc::new(crate::demo::SampleUpstream::new(Some(config.routes.clone())));
        match crate::demo::banner(&config, key, addrs, admin, &imported) {
            Ok(text) => {
                // Whoever reads it may have gone (`portcullis demo | head`): the gateway runs on.
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}").and_then(|()| out.flush());
            }
            Err(e) => return report(&e),
        }
    }
    let ran = crate::gateway::run(&config, policy, verifier, metrics, upstreams, extras, upgrade);
    drop(scratch);
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// `portcullis explain`: the policies (and the store's orgs, with `[admin]`) as the gateway
/// would load them, and the request through the gateway's pipeline. Policies that do not
/// validate are reported, and the answer is then the gateway's: 503, not ready.
fn explain_request(
    path: &std::path::Path,
    token: Option<&str>,
    extra_headers: &[String],
    json: bool,
    method: &str,
    target: &str,
) -> ExitCode {
    let config = match crate::config::load(path) {
        Ok(c) => c,
        Err(e) => return report(&e),
    };
    let headers = match crate::dryrun::headers(token, extra_headers) {
        Ok(h) => h,
        Err(e) => return report(&e),
    };
    let (policy, error) = crate::reload::LivePolicy::load(&config.gateway.policies);
    if let Some(e) = error {
        eprintln!("warning: the policies do not validate, so the gateway is not ready:\n{}", e.to_string().trim_end());
    }
    policy.set_routes(config.routes.clone());
    let policy = std::sync::Arc::new(policy);
    let tokens = std::sync::Arc::new(crate::auth::StoredTokens::default());
    // Only reads: no migration, no LISTEN, nothing created.
    if let Some(admin) = &config.admin
        && let Err(e) = crate::control::read_only(admin, policy.clone(), tokens.clone())
    {
        return report(&e);
    }
    let verifier = match config.auth.as_ref().map(crate::auth::Verifier::load) {
        Some(Ok(v)) => Some(std::sync::Arc::new(v.with_stored_tokens(tokens))),
        Some(Err(e)) => return report(&e),
        None => None,
    };
    let pipeline = crate::gateway::pipeline::Pipeline::new(&config, policy, verifier)
        .explaining(crate::gateway::pipeline::Explaining::Always);
    let run = crate::dryrun::dry_run(&pipeline, method, target, &headers);
    if json {
        match serde_json::to_string_pretty(&run) {
            Ok(text) => out!("{text}"),
            Err(e) => return report(&format!("cannot write the answer as JSON: {e}")),
        }
    } else {
        out!("{run}");
    }
    ExitCode::SUCCESS
}

/// The snapshot a gateway started on `config` would decide with: its policies folder and,
/// with `[admin]`, the orgs its store holds (read only: nothing is migrated or created).
fn as_gateway_decides(config: &std::path::Path) -> Result<crate::snapshot::Snapshot, String> {
    let config = crate::config::load(config).map_err(|e| e.to_string())?;
    let (policy, error) = crate::reload::LivePolicy::load(&config.gateway.policies);
    if let Some(e) = error {
        return Err(e.to_string());
    }
    let policy = std::sync::Arc::new(policy);
    if let Some(admin) = &config.admin {
        let tokens = std::sync::Arc::new(crate::auth::StoredTokens::default());
        crate::control::read_only(admin, policy.clone(), tokens).map_err(|e| e.to_string())?;
    }
    Ok(policy.handle().load_full().as_ref().clone())
}

/// Sends one admin API call and prints its JSON answer.
fn admin_call(conn: &client::Connection, call: Result<client::Call, client::ClientError>) -> ExitCode {
    match call.and_then(|call| client::send(conn, &call)) {
        Ok(value) => {
            out!("{}", serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()));
            ExitCode::SUCCESS
        }
        Err(e) => report(&e),
    }
}

/// Runs the sample platform upstream alone, until SIGTERM or SIGINT.
fn upstream(listen: std::net::SocketAddr) -> ExitCode {
    let listener = match crate::gateway::listener::bind(listen) {
        Ok(l) => l,
        Err(e) => return report(&format!("cannot listen on {listen}: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => return report(&format!("cannot start a runtime: {e}")),
    };
    eprintln!("portcullis: sample platform listening on {listen}");
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return report(&"cannot listen for SIGTERM and SIGINT");
        };
        let app = std::sync::Arc::new(crate::demo::SampleUpstream::default());
        tokio::spawn(crate::serve::serve(listener, app, stopping));
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = stop.send(true);
        ExitCode::SUCCESS
    })
}

/// Prints an error at the binary's edge (one line, or the whole list) and exits 2.
fn report(e: &dyn std::fmt::Display) -> ExitCode {
    let text = e.to_string();
    eprint!("error: {text}");
    if !text.ends_with('\n') {
        eprintln!();
    }
    ExitCode::from(2)
}
