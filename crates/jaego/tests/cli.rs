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

/// `user create` takes the password from standard input or an environment
/// variable, never from the command line, and the user can then sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_create_reads_the_password_from_stdin_or_the_environment() {
    use std::io::Write;
    use std::process::Stdio;

    let dir = std::env::temp_dir().join(format!("jaego-cli-user-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("users.db").display());
    let base = ["user", "create", "--database-url", url.as_str()];

    let out = jaego(&[&base[..], &["--login", "nopass", "--role", "staff"]].concat());
    assert!(!out.status.success(), "a user without a password source");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_jaego"))
        .args(base)
        .args([
            "--login",
            "Kim@Shop.kr",
            "--name",
            "Kim",
            "--role",
            "owner",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_jaego"))
        .args(base)
        .args([
            "--login",
            "lee",
            "--role",
            "staff",
            "--password-env",
            "JAEGO_TEST_NEW_PASSWORD",
        ])
        .env("JAEGO_TEST_NEW_PASSWORD", "another good passphrase")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_jaego"))
        .args(base)
        .args([
            "--login",
            "weak",
            "--role",
            "staff",
            "--password-env",
            "JAEGO_TEST_NEW_PASSWORD",
        ])
        .env("JAEGO_TEST_NEW_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a short password is refused");

    let store = jaego_store::Store::connect(&url, jaego_store::StoreOptions::default())
        .await
        .unwrap();
    let kim = store
        .check_credentials("kim@shop.kr", "correct horse battery")
        .await
        .unwrap()
        .expect("kim signs in with the password from stdin");
    assert_eq!(
        (kim.login.as_str(), kim.role),
        ("kim@shop.kr", jaego_core::Role::Owner)
    );
    assert!(
        store
            .check_credentials("lee", "another good passphrase")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .check_credentials("weak", "short")
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
