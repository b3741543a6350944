//! No secret in the logs: a real `jaego serve` at `--log-level debug` (and
//! a second run at `trace`) is driven through every path that handles a
//! secret — the bootstrap token, API token creation and use, users with
//! passwords, sign-in by JSON and by form, failed and throttled sign-ins,
//! session cookies, CSRF tokens, password resets, a database URL with a
//! password — and its whole log is searched for each secret it saw.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Running;

use jaego_store::testing::fresh_databases;
use serde_json::{Value, json};

struct Served {
    child: Running,
    base: String,
    bootstrap: String,
    log: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `jaego serve` with its log (standard error) going to a file.
fn serve(url: &str, level: &str, dir: &std::path::Path) -> Served {
    let port = free_port();
    let log = dir.join(format!("serve-{level}.log"));
    let stdout = dir.join(format!("serve-{level}.out"));
    let child = Command::new(env!("CARGO_BIN_EXE_jaego"))
        .args(["serve", "--database-url", url, "--log-level", level])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start jaego serve");
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "jaego serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The bootstrap token is printed once to standard output, never logged.
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let bootstrap = out
        .split_whitespace()
        .find(|w| w.starts_with("jg_"))
        .unwrap_or_default()
        .to_string();
    Served {
        child: Running(child),
        base,
        bootstrap,
        log,
    }
}

impl Served {
    /// Stops the server with SIGTERM and returns its whole log.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let mut text = String::new();
        std::fs::File::open(&self.log)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }
}

/// Drives every secret-handling path; returns the secrets it saw.
async fn drive(base: &str, bootstrap: &str) -> Vec<(String, String)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut secrets = vec![("bootstrap token".to_string(), bootstrap.to_string())];
    let post = |path: &str, token: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(token)
            .header("idempotency-key", format!("k-{path}"))
            .json(&body)
            .send()
    };
    let token: Value = post(
        "/api/v1/tokens",
        bootstrap,
        json!({"role": "owner", "name": "ci"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let owner = token["token"].as_str().expect("new token").to_string();
    secrets.push(("created token".into(), owner.clone()));
    let password = "Hunter2-but-longer-Σ";
    let r = post(
        "/api/v1/users",
        &owner,
        json!({"login": "kim", "name": "Kim", "role": "manager", "password": password}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    secrets.push(("password".into(), password.into()));
    let user: Value = http
        .get(format!("{base}/api/v1/users"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = user["items"][0]["id"].as_str().unwrap().to_string();

    // Wrong passwords, then enough to be throttled.
    let wrong = "wrong-password-guess-123";
    secrets.push(("wrong password".into(), wrong.into()));
    for _ in 0..12 {
        http.post(format!("{base}/auth/login"))
            .json(&json!({"login": "nobody-here", "password": wrong}))
            .send()
            .await
            .unwrap();
    }
    // Sign-in by JSON and by form.
    let r = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"login": "kim", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session: Value = r.json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_string();
    secrets.push((
        "session cookie".into(),
        cookie.split('=').nth(1).unwrap().to_string(),
    ));
    secrets.push(("csrf token".into(), csrf.clone()));
    let r = http
        .post(format!("{base}/auth/login"))
        .form(&[("login", "kim"), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let form_cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    secrets.push((
        "form session cookie".into(),
        form_cookie.split('=').nth(1).unwrap().to_string(),
    ));

    // The session at work: a read, a change with the CSRF token, one without.
    for (csrf_header, expected) in [(Some(csrf.as_str()), 201), (None, 403)] {
        let mut request = http
            .post(format!("{base}/api/v1/locations"))
            .header("cookie", &cookie)
            .json(&json!({"code": format!("L{expected}"), "name": "L", "kind": "store", "time_zone": "Asia/Seoul"}));
        if let Some(token) = csrf_header {
            request = request.header("x-csrf-token", token);
        }
        assert_eq!(request.send().await.unwrap().status(), expected);
    }
    let r = http
        .get(format!("{base}/auth/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A password reset, a bad token, a sign-out.
    let new_password = "a-new-passphrase-Ω-77";
    secrets.push(("new password".into(), new_password.into()));
    let r = post(
        &format!("/api/v1/users/{user_id}/password"),
        &owner,
        json!({"password": new_password}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    let bogus = format!("jg_{}", "ab".repeat(32));
    secrets.push(("unknown token".into(), bogus.clone()));
    let r = http
        .get(format!("{base}/api/v1/skus"))
        .bearer_auth(&bogus)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    http.post(format!("{base}/auth/logout"))
        .header("cookie", &form_cookie)
        .form(&[("csrf_token", "nope")])
        .send()
        .await
        .unwrap();
    secrets
}

fn assert_clean(log: &str, secrets: &[(String, String)], context: &str) {
    assert!(
        log.lines().count() > 5,
        "{context}: the log is nearly empty:\n{log}"
    );
    for (what, secret) in secrets {
        assert!(!secret.is_empty(), "{context}: empty {what}");
        assert!(
            !log.contains(secret.as_str()),
            "{context}: the {what} is in the log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_no_secret() {
    for db in fresh_databases("no_secrets_in_logs").await {
        let dir = std::env::temp_dir().join(format!("jaego-secrets-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        // A database password, where the engine takes one (PostgreSQL here
        // trusts local connections, so any password is accepted).
        let (url, db_password) = if db.engine == "postgres" {
            let pw = "db-Secret-pw-9281";
            (
                db.url.replacen(
                    "postgres://postgres@",
                    &format!("postgres://postgres:{pw}@"),
                    1,
                ),
                Some(pw),
            )
        } else {
            (db.url.clone(), None)
        };
        for level in ["debug", "trace"] {
            let served = serve(&url, level, &dir);
            assert!(
                served.bootstrap.starts_with("jg_") || level == "trace",
                "{}: no bootstrap token",
                db.engine
            );
            let bootstrap = if served.bootstrap.is_empty() {
                // The second run finds the database bootstrapped: make a token the CLI way.
                let out = Command::new(env!("CARGO_BIN_EXE_jaego"))
                    .args(["token", "create", "--database-url", &url, "--role", "owner"])
                    .output()
                    .unwrap();
                let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
                assert!(
                    out.status.success() && !token.is_empty(),
                    "{}: jaego token create beside the running server: {}\n{}",
                    db.engine,
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                token
            } else {
                served.bootstrap.clone()
            };
            let mut secrets = if level == "debug" {
                drive(&served.base, &bootstrap).await
            } else {
                drive_again(&served.base, &bootstrap).await
            };
            if let Some(pw) = db_password {
                secrets.push(("database password".into(), pw.into()));
            }
            let log = served.stop();
            assert_clean(&log, &secrets, &format!("{} at {level}", db.engine));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The second run (at trace level) repeats the token and sign-in paths on
/// a database that already has the user.
async fn drive_again(base: &str, bootstrap: &str) -> Vec<(String, String)> {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(bootstrap)
        .json(&json!({"role": "staff", "name": "till"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let staff = token["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token made with the CLI's token: {token}"))
        .to_string();
    let r = http
        .get(format!("{base}/api/v1/skus"))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let password = "a-new-passphrase-Ω-77";
    let r = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"login": "kim", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = http
        .get(format!("{base}/api/v1/skus"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    vec![
        ("bootstrap token".into(), bootstrap.into()),
        ("staff token".into(), staff),
        ("password".into(), password.into()),
        (
            "session cookie".into(),
            cookie.split('=').nth(1).unwrap().to_string(),
        ),
    ]
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
