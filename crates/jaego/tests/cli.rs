//! The command line: `token create` bootstraps and prints a secret once,
//! `verify` checks a real database and refuses one that does not exist,
//! `serve` refuses webhooks to its own network unless told otherwise and
//! an allocation chunk of no orders.

mod support;

use std::process::Command;
use support::Running;

fn jaego(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jaego"))
        .args(args)
        .output()
        .expect("run jaego")
}

/// An allocation run needs at least one order per transaction; the flag
/// and its environment variable say so before anything starts. (The
/// database's directory does not exist, so a server that accepted the
/// chunk size would stop there instead of serving.)
#[test]
fn serve_refuses_an_allocation_chunk_of_no_orders() {
    let nowhere = "sqlite:///nonexistent-jaego-dir/jaego.db";
    let serve = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        nowhere,
    ];
    let out = jaego(&[&serve[..], &["--allocation-chunk-orders", "0"]].concat());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allocation-chunk-orders"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_jaego"))
        .args(serve)
        .env("JAEGO_ALLOCATION_CHUNK_ORDERS", "0")
        .output()
        .expect("run jaego");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allocation-chunk-orders"), "{stderr}");
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

/// `jaego serve` refuses a webhook at a loopback address by default, and
/// takes it with `JAEGO_WEBHOOK_PRIVATE_TARGETS=allow` (the flag's
/// environment variable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_webhooks_to_its_own_network_unless_allowed() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = std::env::temp_dir().join(format!("jaego-cli-egress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (setting, expected) in [(None, 422), (Some("allow"), 201)] {
        let name = setting.unwrap_or("default");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let stdout = dir.join(format!("{name}.out"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_jaego"));
        command
            .args(["serve", "--log-level", "warn"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--database-url",
                &format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            ])
            .env_remove("JAEGO_WEBHOOK_PRIVATE_TARGETS")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(Stdio::null());
        if let Some(setting) = setting {
            command.env("JAEGO_WEBHOOK_PRIVATE_TARGETS", setting);
        }
        let child = Running(command.spawn().expect("start jaego serve"));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{name}: jaego serve did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = std::fs::read_to_string(&stdout).unwrap();
        let token = out
            .split_whitespace()
            .find(|w| w.starts_with("jg_"))
            .expect("the bootstrap token");
        let status = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v1/webhooks"))
            .bearer_auth(token)
            .json(&serde_json::json!({"url": "http://127.0.0.1:9/hook", "kinds": ["stock.changed"], "active": false}))
            .send()
            .await
            .unwrap()
            .status();
        drop(child);
        assert_eq!(status.as_u16(), expected, "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
