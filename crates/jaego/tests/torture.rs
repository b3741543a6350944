//! Short runs of `jaego torture` in the test suite, so every guarantee it
//! checks is checked on every CI run and the command cannot rot: crashes
//! (SIGKILL) and graceful stops (SIGTERM) on SQLite and PostgreSQL, two
//! instances on one PostgreSQL, and overload. The full runs and their
//! figures are in docs/RELIABILITY.md.

use std::process::Command;

use jaego_store::testing::{TestDatabase, fresh_databases};

/// Runs `jaego torture MODE` on `db` and returns its summary line; fails
/// the test if the command fails.
fn torture(mode: &str, db: Option<&TestDatabase>, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jaego"));
    command.args(["torture", mode, "--seed", "7"]).args(args);
    if let Some(db) = db.filter(|d| d.engine == "postgres") {
        command.args(["--database-url", &db.url]);
    }
    let out = command.output().expect("run jaego torture");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "jaego torture {mode} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("torture "))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}"))
        .to_string();
    eprintln!("{line}");
    assert!(
        line.contains("problems 0") && line.contains("oversold 0"),
        "{line}"
    );
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_lose_nothing_acknowledged_and_half_apply_nothing() {
    for db in fresh_databases("torture::crash").await {
        let line = torture(
            "crash",
            Some(&db),
            &["--rounds", "3", "--workers", "8", "--max-load-ms", "800"],
        );
        assert!(line.contains("3/3 rounds survived"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_every_accepted_request() {
    for db in fresh_databases("torture::shutdown").await {
        let line = torture(
            "shutdown",
            Some(&db),
            &["--rounds", "2", "--workers", "8", "--max-load-ms", "800"],
        );
        assert!(line.contains("2/2 rounds survived"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_never_oversell_or_run_a_job_twice() {
    let dbs = fresh_databases("torture::instances").await;
    let Some(db) = dbs.iter().find(|d| d.engine == "postgres") else {
        return;
    };
    let line = torture("instances", Some(db), &["--workers", "8"]);
    assert!(line.contains("1/1 rounds survived"), "{line}");
}

#[test]
fn overload_is_shed_with_503_and_memory_stays_bounded() {
    let line = torture(
        "overload",
        None,
        &["--rounds", "2", "--workers", "150", "--max-load-ms", "1000"],
    );
    assert!(line.contains("2/2 rounds survived"), "{line}");
    assert!(!line.contains("; 0 shed"), "{line}");
}
