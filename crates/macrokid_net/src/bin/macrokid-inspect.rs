//! `macrokid-inspect`: asks a running coordinator over `P.query.request`
//! ([`macrokid_net::inspect`]) for its systems and instances, or for entities.
//!
//! ```text
//! macrokid-inspect [--url URL] [--prefix P] [--user U --password-file F] [--json] systems
//! macrokid-inspect [...] entities COMPONENT... [--first N]
//! ```
//!
//! `systems` prints the tick, the entity count and per system its access, rows and run
//! time in the last tick, and its instances (live or dead, shards in the last tick,
//! load). `entities` prints how many entities have all the named components and the first
//! rows as JSON, one per line. `--json` prints the whole answer as JSON instead. A cluster
//! started by `cargo xtask cluster` prints the inspector's login to use.
//!
//! Exit status 1 when no coordinator answers or the answer is an error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use macrokid_net::inspect;
use macrokid_net::protocol::{QueryRequest, QueryResponse, Subjects};
use macrokid_net::security::Credentials;

/// Ask a macrokid coordinator about its systems and entities.
#[derive(Parser, Debug)]
#[command(name = "macrokid-inspect", version)]
struct Args {
    /// The NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// The cluster's subject prefix.
    #[arg(long, default_value = "cluster")]
    prefix: String,
    /// The NATS user (the cluster's `inspector`), when the server requires a login.
    #[arg(long, requires = "password_file")]
    user: Option<String>,
    /// A file holding the user's password (first line).
    #[arg(long, requires = "user")]
    password_file: Option<PathBuf>,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Print the whole answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The tick, the entity count, the systems and their instances.
    Systems,
    /// Entities having all these components (registered name, type name or its last path
    /// segment): their count and the first rows.
    Entities {
        /// Component names.
        #[arg(required = true)]
        components: Vec<String>,
        /// How many rows to print at most (the coordinator sends 1000 at most).
        #[arg(long, default_value_t = 5)]
        first: u32,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("macrokid-inspect: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let subjects = Subjects::new(args.prefix.as_str()).map_err(|e| e.to_string())?;
    let credentials = match (&args.user, &args.password_file) {
        (Some(user), Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("reading the password file {}: {e}", file.display()))?;
            let password = text.lines().next().unwrap_or_default().trim().to_owned();
            Some(Credentials::new(user.as_str(), password))
        }
        _ => None,
    };
    let request = match &args.command {
        Command::Systems => QueryRequest::Systems,
        Command::Entities { components, first } => QueryRequest::Entities {
            components: components.clone(),
            first: *first,
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let response = runtime.block_on(async {
        let client = inspect::connect(&args.url, &subjects, credentials.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        inspect::query(
            &client,
            &subjects,
            &request,
            Duration::from_millis(args.timeout_ms),
        )
        .await
        .map_err(|e| e.to_string())
    })?;
    if args.json {
        let text = serde_json::to_string_pretty(&response).map_err(|e| e.to_string())?;
        println!("{text}");
        return match response {
            QueryResponse::Error(message) => Err(message),
            _ => Ok(()),
        };
    }
    match response {
        QueryResponse::Systems {
            tick,
            entities,
            systems,
        } => {
            println!(
                "tick {tick}, {entities} entities, {} systems",
                systems.len()
            );
            for s in systems {
                println!(
                    "{}: reads [{}] writes [{}]; last tick {} rows, run {:.2} ms",
                    s.system,
                    s.access.reads.join(", "),
                    s.access.writes.join(", "),
                    s.rows,
                    s.max_run_micros as f64 / 1000.0
                );
                for i in s.instances {
                    println!(
                        "  instance {} {}: {} shards, load {:.0}%",
                        i.instance_id,
                        if i.live { "live" } else { "dead" },
                        i.shards,
                        i.load * 100.0
                    );
                }
            }
            Ok(())
        }
        QueryResponse::Entities { count, rows_json } => {
            println!("{count} entities");
            for row in rows_json {
                println!("{row}");
            }
            Ok(())
        }
        QueryResponse::Error(message) => Err(format!("the coordinator answered: {message}")),
        other => Err(format!("an answer this version does not know: {other:?}")),
    }
}
