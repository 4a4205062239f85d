//! The ecs_bench_suite workloads for macrokid_ecs and its peers, each
//! library in its own process. See README.md.

// Components carry data the workloads never read back (as in the suite).
#![allow(dead_code)]

mod bevy;
mod harness;
mod hecs;
mod legion;
mod macrokid;
mod plain;
mod specs;

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::time::Duration;

use harness::Timing;

/// The libraries, in the order `--all` runs them and the table's columns.
const LIBS: [&str; 6] = ["bevy", "hecs", "legion", "specs", "vec", "macrokid"];
const PEERS: [&str; 4] = ["bevy", "hecs", "legion", "specs"];
const HEADERS: [&str; 6] = [
    "bevy_ecs 0.20",
    "hecs 0.11",
    "legion 0.4",
    "specs 0.20",
    "plain Vec",
    "macrokid",
];

/// The workloads, in order. `add_remove_sparse` and `add_remove_held` are
/// macrokid only (its `B` in a sparse set, found per call or held across
/// the loop as specs holds its storage); their rows compare with the
/// peers' `add_remove`.
/// `many_systems` is not in ecs_bench_suite (32 trivial systems in one
/// stage, each on its own 100 entities; TARGETS.md's last row).
const WORKLOADS: [&str; 9] = [
    "simple_insert",
    "simple_iter",
    "frag_iter",
    "heavy_compute",
    "schedule",
    "add_remove",
    "add_remove_sparse",
    "add_remove_held",
    "many_systems",
];

fn run_workload(lib: &str, workload: &str, timing: &Timing) -> Option<f64> {
    match lib {
        "macrokid" => macrokid::run(workload, timing),
        "bevy" => bevy::run(workload, timing),
        "hecs" => hecs::run(workload, timing),
        "legion" => legion::run(workload, timing),
        "specs" => specs::run(workload, timing),
        "vec" => plain::run(workload, timing),
        _ => None,
    }
}

struct Args {
    lib: Option<String>,
    all: bool,
    runs: u32,
    workloads: Vec<String>,
    timing: Timing,
}

const USAGE: &str =
    "usage: macrokid_peers (--all [--runs N] | --lib <bevy|hecs|legion|specs|vec|macrokid>)
       [--workload name[,name...]] [--warm-up-ms MS] [--measurement-ms MS] [--samples N]
       [--iters N]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        lib: None,
        all: false,
        runs: 2,
        workloads: WORKLOADS.iter().map(|w| w.to_string()).collect(),
        timing: Timing {
            warm_up: Duration::from_millis(500),
            measurement: Duration::from_millis(2000),
            samples: 25,
            fixed_iters: None,
        },
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|e| format!("{name} {v:?} is not a whole number: {e}"))
        };
        match arg.as_str() {
            "--all" => args.all = true,
            "--lib" => {
                let lib = value("--lib")?;
                if !LIBS.contains(&lib.as_str()) {
                    return Err(format!("unknown library {lib:?}; one of {LIBS:?}"));
                }
                args.lib = Some(lib);
            }
            "--runs" => args.runs = number("--runs", value("--runs")?)?.max(1) as u32,
            "--workload" => {
                let list = value("--workload")?;
                args.workloads = list.split(',').map(str::to_string).collect();
                if let Some(bad) = args
                    .workloads
                    .iter()
                    .find(|w| !WORKLOADS.contains(&w.as_str()))
                {
                    return Err(format!("unknown workload {bad:?}; one of {WORKLOADS:?}"));
                }
            }
            "--warm-up-ms" => {
                args.timing.warm_up = Duration::from_millis(number(&arg, value(&arg)?)?)
            }
            "--measurement-ms" => {
                args.timing.measurement = Duration::from_millis(number(&arg, value(&arg)?)?)
            }
            "--samples" => args.timing.samples = number(&arg, value(&arg)?)?.max(1) as u32,
            "--iters" => args.timing.fixed_iters = Some(number(&arg, value(&arg)?)?.max(1)),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if args.all == args.lib.is_some() {
        return Err(format!("give exactly one of --all and --lib\n{USAGE}"));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Some(lib) = &args.lib {
        for workload in &args.workloads {
            match run_workload(lib, workload, &args.timing) {
                Some(us) => println!("RESULT {workload} {us:.4}"),
                None => println!("RESULT {workload} -"),
            }
        }
        return ExitCode::SUCCESS;
    }
    match run_all(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every library in its own fresh process, one after another, `runs`
/// times over, keeps the lower median per library and workload, and prints
/// the table.
fn run_all(args: &Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    // (lib, workload) -> medians of each run.
    let mut results: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for run in 1..=args.runs {
        for lib in LIBS {
            eprintln!("run {run}/{}: {lib}", args.runs);
            let output = Command::new(&exe)
                .args(["--lib", lib, "--workload", &args.workloads.join(",")])
                .args(["--warm-up-ms", &args.timing.warm_up.as_millis().to_string()])
                .args([
                    "--measurement-ms",
                    &args.timing.measurement.as_millis().to_string(),
                ])
                .args(["--samples", &args.timing.samples.to_string()])
                .output()
                .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
            if !output.status.success() {
                return Err(format!(
                    "{lib} failed ({}):\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                let mut parts = line.split_whitespace();
                if let (Some("RESULT"), Some(workload), Some(value)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    if let Ok(us) = value.parse::<f64>() {
                        results
                            .entry((lib.to_string(), workload.to_string()))
                            .or_default()
                            .push(us);
                    }
                }
            }
        }
    }
    let best = |lib: &str, workload: &str| {
        results
            .get(&(lib.to_string(), workload.to_string()))
            .map(|v| v.iter().copied().fold(f64::INFINITY, f64::min))
    };
    println!(
        "µs per iteration, lower median of {} run(s) per library, each library in its own process\n",
        args.runs
    );
    println!(
        "| workload | {} | best peer | macrokid ÷ best peer | macrokid ÷ plain Vec |",
        HEADERS.join(" | ")
    );
    println!("|---|{}---|---|---|", "---|".repeat(HEADERS.len()));
    for workload in &args.workloads {
        // The sparse variants are compared with the peers' and Vec's add_remove.
        let peer_workload = if workload == "add_remove_sparse" || workload == "add_remove_held" {
            "add_remove"
        } else {
            workload
        };
        let mut cells = Vec::new();
        for lib in LIBS {
            let w = if lib == "macrokid" {
                workload.as_str()
            } else {
                peer_workload
            };
            cells.push(best(lib, w).map_or("–".to_string(), format_us));
        }
        let best_peer = PEERS
            .iter()
            .filter_map(|&lib| best(lib, peer_workload).map(|us| (lib, us)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let ours = best("macrokid", workload);
        let vec = best("vec", peer_workload);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "–".to_string(),
        };
        println!(
            "| {workload} | {} | {} | {} | {} |",
            cells.join(" | "),
            best_peer.map_or("–".to_string(), |(lib, _)| lib.to_string()),
            ratio(ours, best_peer.map(|b| b.1)),
            ratio(ours, vec),
        );
    }
    Ok(())
}

fn format_us(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 10.0 {
        format!("{us:.1}")
    } else if us >= 1.0 {
        format!("{us:.2}")
    } else {
        format!("{us:.3}")
    }
}
