//! Project automation for macrokid, in the cargo-xtask style
//! (<https://github.com/matklad/cargo-xtask>): one binary, one subcommand per
//! task, cargo called through `$CARGO`, no dependencies so it builds in
//! seconds.
//!
//! ```text
//! cargo xtask shaders [--check]   compile shaders/*.{vert,frag,comp} to SPIR-V (glslc, spirv-val)
//! cargo xtask demo [ARGS...]      build and run the showcase (release), ARGS go to the showcase
//! cargo xtask test                fmt check, clippy -D warnings, all tests, docs, shader check
//! cargo xtask setup               install the system packages the tests and the demo need (and nats-server)
//! cargo xtask cluster [ARGS...]   distributed mode: nats-server, a coordinator and system processes
//! cargo xtask mesa                unpack Mesa's backports lavapipe (descriptor indexing) under target/
//! ```
//!
//! System packages (a Vulkan loader and driver, the validation layers, glslc,
//! spirv-val) are installed with `apt-get` when running as root on a machine
//! that has it; otherwise the task stops and prints the exact line to run.

mod mesa;
mod nats;
mod packages;
mod shaders;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// An error that ends the task: the message says what failed and what to do.
type TaskResult = Result<(), String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "shaders" => shaders::run(&project_root(), rest),
        "demo" => demo(rest),
        "cluster" => cluster(rest),
        "test" => test(rest),
        "setup" => packages::ensure(packages::ALL).and_then(|()| nats::ensure().map(drop)),
        "mesa" => mesa::ensure(&project_root()).map(|icd| println!("{}", icd.display())),
        "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => Err(format!("unknown task `{other}`; run `cargo xtask help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "\
cargo xtask <task>

tasks:
  shaders [--check]   compile shaders/*.{{vert,frag,comp}} to committed SPIR-V; --check fails on a stale .spv
  demo [ARGS...]      run the showcase headless (release build); try `cargo xtask demo -- --help`
  test                fmt check, clippy -D warnings, all tests and doc tests, cargo doc -D warnings, shader check,
                      downstream resolution (tests/downstream with bevy_ecs); Miri over the ECS's unit and integration
                      tests (XTASK_MIRI=0 skips, =storage runs the storage unit tests only)
  cluster [ARGS...]   distributed mode (release build): starts nats-server, a coordinator and system processes of
                      the demo simulation, runs ticks, prints per-tick times and the world hash against a local run;
                      ARGS: --entities N --instances N --ticks N --kill-at T --freeze-at T --rate HZ --deadline-ms MS
                      --reuse on|off --snapshot-every N --resume --store DIR --world ID --restart-server-at T --no-auth
                      --systems Movement,Spin,Damping,Lifecycle (a subset runs only those, here and in the local run)
                      (the server requires a login with per-system permissions unless --no-auth)
  setup               install the system packages (Vulkan driver, validation layers, glslc, spirv-tools) and nats-server
  mesa                unpack Mesa's backports lavapipe (Vulkan 1.4, descriptor indexing) under target/mesa-backports
                      and print its ICD manifest, for VK_DRIVER_FILES"
    );
}

/// The workspace root: the parent of this crate's manifest directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo that runs us (`$CARGO`), so that the same toolchain is used.
fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    // A CI run starts from a cold target directory and never rebuilds
    // incrementally: the incremental caches would only cost time and disk.
    if env::var_os("CI").is_some() && env::var_os("CARGO_INCREMENTAL").is_none() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

/// Runs `cmd`, echoing it first; a non-zero exit is an error naming the step.
fn run_step(step: &str, cmd: &mut Command) -> TaskResult {
    println!("\n==> {step}: {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: could not start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// How long the Miri step (both runs together) may take before it counts as
/// failed.
const MIRI_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(1200);

/// The integration tests of `macrokid_ecs` that run under Miri: all but
/// `model` (a proptest model, thousands of cases) and `ui` (trybuild
/// compiles crates with rustc).
const MIRI_INTEGRATION_TESTS: [&str; 10] = [
    "world",
    "drops",
    "archetypes",
    "change",
    "commands",
    "layers",
    "snapshot",
    "sparse",
    "sparse_systems",
    "systems",
];

/// Which tests the Miri step runs (`XTASK_MIRI`).
#[derive(Clone, Copy, PartialEq)]
enum MiriScope {
    /// The storage module's unit tests only (`XTASK_MIRI=storage`).
    Storage,
    /// Those, then the other unit tests and [`MIRI_INTEGRATION_TESTS`].
    All,
}

/// Miri (nightly) over `macrokid_ecs`, in two runs bounded together by
/// [`MIRI_TIME_LIMIT`]:
///
/// 1. the unit tests of the `unsafe` storage module (tables, columns, sparse
///    sets, borrow flags) under Stacked Borrows, Miri's default aliasing
///    model, with its leak check;
/// 2. with [`MiriScope::All`], the other unit tests and the world, storage
///    and system integration tests ([`MIRI_INTEGRATION_TESTS`]) under Tree
///    Borrows (`-Zmiri-tree-borrows`). These run systems and `par_for_each`
///    on rayon pools, and crossbeam-epoch (under rayon's deques) breaks a
///    Stacked Borrows retag rule in `Local::element_of`
///    (crossbeam-rs/crossbeam#545, rayon-rs/rayon#1185); crossbeam runs its
///    own Miri CI under Tree Borrows, which accepts it
///    (crossbeam-rs/crossbeam#996). The pools' threads outlive `main`, so
///    this run ignores leaks (`tests/drops.rs` counts drops itself), and
///    crossbeam-epoch's integer-to-pointer casts are allowed
///    (`-Zmiri-permissive-provenance`).
fn miri(scope: MiriScope) -> TaskResult {
    // Miri needs the nightly toolchain with the `miri` and `rust-src`
    // components. Where they cannot be added (no nightly toolchain, or the
    // rustup dist server is unreachable) the step is skipped with the line to
    // run, rather than failing the tests it cannot check.
    let component = run_step(
        "miri component",
        Command::new("rustup").args([
            "component",
            "add",
            "--toolchain",
            "nightly",
            "miri",
            "rust-src",
        ]),
    );
    if let Err(e) = component {
        println!(
            "\n==> miri: SKIPPED, the components could not be added ({e}); to run it: \
             `rustup toolchain install nightly --profile minimal --component miri,rust-src` \
             then `cargo xtask test`"
        );
        return Ok(());
    }
    let deadline = std::time::Instant::now() + MIRI_TIME_LIMIT;
    // Isolation off for `available_parallelism` (the pools' size).
    let mut storage = miri_command("-Zmiri-disable-isolation");
    storage.args(["--lib", "storage"]);
    run_miri("miri (storage, Stacked Borrows)", &mut storage, deadline)?;
    if scope == MiriScope::Storage {
        return Ok(());
    }
    let mut all = miri_command(
        "-Zmiri-disable-isolation -Zmiri-tree-borrows -Zmiri-ignore-leaks \
         -Zmiri-permissive-provenance",
    );
    all.args(["--no-fail-fast", "--lib"]);
    for test in MIRI_INTEGRATION_TESTS {
        all.args(["--test", test]);
    }
    // The storage unit tests ran in the first run.
    all.args(["--", "--skip", "storage::"]);
    run_miri("miri (all, Tree Borrows)", &mut all, deadline)
}

/// `cargo +nightly miri test -p macrokid_ecs` with `flags` as `MIRIFLAGS`.
fn miri_command(flags: &str) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(project_root())
        .args(["+nightly", "miri", "test", "-p", "macrokid_ecs"])
        .env("MIRIFLAGS", flags)
        .env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// Runs `cmd`, killing it at `deadline`; a non-zero exit or the deadline is
/// an error naming `step`.
fn run_miri(step: &str, cmd: &mut Command, deadline: std::time::Instant) -> TaskResult {
    println!(
        "\n==> {step} (Miri limit {} s in all): {cmd:?}",
        MIRI_TIME_LIMIT.as_secs()
    );
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{step}: could not start {cmd:?}: {e}"))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{step} failed ({status})")),
            Ok(None) if std::time::Instant::now() > deadline => {
                // The child is ours; a kill error means it just exited.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{step}: Miri ran past its limit of {} s",
                    MIRI_TIME_LIMIT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(200)),
            Err(e) => return Err(format!("{step}: waiting failed: {e}")),
        }
    }
}

fn demo(args: &[String]) -> TaskResult {
    packages::ensure(packages::RUNTIME)?;
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    run_step(
        "showcase",
        cargo()
            .args(["run", "--release", "--package", "showcase", "--"])
            .args(args),
    )
}

/// `cargo xtask cluster`: the `macrokid-cluster run` command of `macrokid_net` (release),
/// with the nats-server found or installed by [`nats::ensure`]. The command stops its
/// processes itself on Ctrl+C.
fn cluster(args: &[String]) -> TaskResult {
    let nats_server = nats::ensure()?;
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    run_step(
        "cluster",
        cargo()
            .args([
                "run",
                "--release",
                "--package",
                "macrokid_net",
                "--bin",
                "macrokid-cluster",
                "--",
                "run",
            ])
            .args(args)
            .env("MACROKID_NATS_SERVER", nats_server),
    )
}

fn test(args: &[String]) -> TaskResult {
    if let Some(arg) = args.first() {
        return Err(format!(
            "`cargo xtask test` takes no arguments, got `{arg}`"
        ));
    }
    packages::ensure(packages::ALL)?;
    let started = std::time::Instant::now();
    // The bindless descriptor path needs descriptor indexing, which the system lavapipe
    // lacks; the graphics tests run it on the backports lavapipe named here.
    let backports_icd = mesa::ensure(&project_root())?;
    // The distributed-mode tests start their own nats-server (2.10+).
    let nats_server = nats::ensure()?;
    run_step("format", cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_step(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Unit, integration and doc tests of every crate; the showcase's tests
    // render on the Vulkan driver with validation on.
    run_step(
        "tests",
        cargo()
            .args(["test", "--workspace", "--all-features"])
            .env("MACROKID_BACKPORTS_ICD", &backports_icd)
            .env("MACROKID_NATS_SERVER", &nats_server),
    )?;
    run_step(
        "docs",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    shaders::run(&project_root(), &["--check".to_string()])?;
    // A project outside the workspace that depends on the macrokid crates and
    // on bevy_ecs must resolve (caret requirements, no `=` pins); resolving
    // is enough, bevy is not built.
    run_step(
        "downstream resolution",
        cargo().args([
            "tree",
            "--manifest-path",
            "tests/downstream/Cargo.toml",
            "--depth",
            "1",
        ]),
    )?;
    // Miri over the ECS's unit and integration tests (see `miri`).
    // `XTASK_MIRI=0` skips it, `XTASK_MIRI=storage` runs the storage unit
    // tests only.
    match env::var("XTASK_MIRI").as_deref() {
        Ok("0") => println!("\n==> miri: skipped (XTASK_MIRI=0)"),
        Ok("storage") => miri(MiriScope::Storage)?,
        _ => miri(MiriScope::All)?,
    }
    println!(
        "\nxtask test: all steps passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
