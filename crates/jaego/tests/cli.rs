//! The command line: `token create` bootstraps and prints a secret once,
//! `verify` checks a real database and refuses one that does not exist.

use std::process::Command;

fn jaego(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jaego"))
        .args(args)
        .output()
        .expect("run jaego")
}

#[test]
fn token_create_then_verify() {
    let dir = std::env::temp_dir().join(format!("jaego-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("cli.db").display());

    let missing = format!("sqlite://{}", dir.join("missing.db").display());
    let out = jaego(&["verify", "--database-url", &missing]);
    assert!(
        !out.status.success(),
        "verify must not create and pass an empty database"
    );
    assert!(!dir.join("missing.db").exists());

    let out = jaego(&[
        "token",
        "create",
        "--database-url",
        &url,
        "--role",
        "staff",
        "--name",
        "till",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        secret.starts_with("jg_") && secret.len() == 67,
        "one secret on stdout, got {secret:?}"
    );

    let out = jaego(&[
        "token",
        "create",
        "--database-url",
        &url,
        "--role",
        "nobody",
    ]);
    assert!(!out.status.success(), "unknown roles are refused");

    let out = jaego(&["verify", "--database-url", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    let _ = std::fs::remove_dir_all(&dir);
}
