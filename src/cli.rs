//! The `portcullis` command line. `main` only calls [`run`]; errors are reported here, at
//! the binary's edge, as one readable message.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::conformance;
use crate::decide::Request;
use crate::explain::explain;
use crate::model::Verb;
use crate::source::load_policy_dir;

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
    /// Decide one request against a policies folder and print allow or deny and why.
    Check {
        #[arg(long)]
        policies: PathBuf,
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

fn parse_verb(s: &str) -> Result<Verb, String> {
    Verb::parse(s).ok_or_else(|| format!("'{s}' is not a verb: use list, read, create, update or delete"))
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Validate { dir } => match load_policy_dir(&dir) {
            Ok(snapshot) => {
                let orgs = snapshot.orgs().count();
                let shares: usize = snapshot.orgs().map(|o| o.model.shares.len()).sum();
                let kinds = snapshot.globals().kinds.len();
                println!("{}: valid ({kinds} kinds, {orgs} orgs, {shares} shares)", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => report(&e),
        },
        Command::Test { paths, verbose } => match conformance::run(&paths) {
            Ok(report) => {
                for f in &report.failures {
                    println!("FAIL {f}");
                }
                if verbose {
                    for (file, errors) in &report.rejections {
                        println!("rejected as expected: {}\n{errors}", file.display());
                    }
                }
                println!("{}", report.summary());
                if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
            }
            Err(e) => report(&e),
        },
        Command::Check { policies, principal, org, project, kind, id, verb } => match load_policy_dir(&policies) {
            Ok(snapshot) => {
                let request = Request {
                    org: &org,
                    principal: &principal,
                    project: project.as_deref(),
                    kind: &kind,
                    id: id.as_deref(),
                    verb,
                };
                println!("{}", explain(&snapshot, &request));
                ExitCode::SUCCESS
            }
            Err(e) => report(&e),
        },
    }
}

/// Loads config, policies and keys, then runs the gateway. Anything that does not load is
/// reported and the gateway does not start (it never serves without a valid policy).
fn serve(path: &std::path::Path) -> ExitCode {
    let config = match crate::config::load(path) {
        Ok(c) => c,
        Err(e) => return report(&e),
    };
    let snapshot = match load_policy_dir(&config.gateway.policies) {
        Ok(s) => s,
        Err(e) => return report(&e),
    };
    let verifier = match config.auth.as_ref().map(crate::auth::Verifier::load).transpose() {
        Ok(v) => v,
        Err(e) => return report(&e),
    };
    if verifier.is_none() {
        eprintln!("warning: {} has no [auth]: every request will be refused with 401", path.display());
    }
    eprintln!("portcullis: listening on {} (policies: {})", config.gateway.listen, config.gateway.policies.display());
    let handle = std::sync::Arc::new(crate::swap::SnapshotHandle::new(snapshot));
    match crate::gateway::run(&config, handle, verifier) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
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
