//! The gameserver binary: per-policy outcomes as specified, and a world
//! hash that depends only on the seed, the ticks and the policy (not on the
//! thread count or timing).

use std::process::Command;

fn run(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_gameserver"))
        .args(args)
        .output()
        .expect("the gameserver runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The `world hash` lines, one per policy run.
fn hashes(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("world hash ").map(str::to_owned))
        .collect()
}

#[test]
fn policies_behave_and_the_hash_is_deterministic() {
    let base = [
        "--ticks",
        "40",
        "--rate",
        "0",
        "--players",
        "300",
        "--inject-failures",
    ];
    let one = run(&[&base[..], &["--threads", "1"]].concat());
    let two = run(&[&base[..], &["--threads", "2"]].concat());
    assert_eq!(hashes(&one).len(), 3, "{one}");
    assert_eq!(hashes(&one), hashes(&two), "{one}\n{two}");

    // Ticks 3, 10, 17, 24, 31, 38 fail (SpawnPickup); 5, 18, 31 panic
    // (SpawnBonus; 31 is already aborted by SpawnPickup under Abort).
    assert!(one.contains("aborted ticks 8"), "{one}");
    assert!(
        one.contains("first abort: tick 3 aborted: system `"),
        "{one}"
    );
    // Continue: 80 spawns less the 6 failed and 3 panicked attempts.
    assert!(one.contains("pickups 71"), "{one}");
    // RetryOnce: every retry succeeds, and no failed attempt leaked a spawn.
    assert!(one.contains("pickups 80"), "{one}");
    let retry = one
        .split("== policy RetryOnce ==")
        .nth(1)
        .expect("a RetryOnce run");
    let spawning = retry
        .lines()
        .find(|l| l.trim_start().starts_with("spawning"))
        .expect("a spawning row");
    let counts: Vec<&str> = spawning.split_whitespace().collect();
    assert_eq!(counts[1], "40", "executed: {spawning}");
    assert_eq!(counts[5], "0", "errored: {spawning}");
}
