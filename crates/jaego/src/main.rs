//! The `jaego` command: a thin shell over the library crates.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use jaego_core::Role;
use jaego_store::{Store, StoreOptions};

/// The allocator: mimalloc. glibc's malloc cost a third of the group-commit
/// worker's time under load (its batches allocate on one thread what the
/// request handlers free on others), measured with `perf` on `jaego bench`.
/// Built with `no_thp`: mimalloc does not ask for transparent huge pages,
/// which held the server's peak at 187-204 MB instead of 157-166 MB in
/// `jaego bench` with 100,000 SKUs in 10 locations (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// jaego: one stock figure for every channel, never oversold.
#[derive(Parser)]
#[command(name = "jaego", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage users who sign in to the web UI.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Recompute every balance from the ledger; exit 1 on any mismatch.
    Verify(DatabaseArgs),
    /// Write a consistent copy of a live SQLite database (PostgreSQL: use pg_dump).
    Backup {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The file to write; it must not exist.
        #[arg(long)]
        output: std::path::PathBuf,
    },
    /// Put a backup in place as the SQLite database. Stop the server first.
    Restore {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The backup file written by `jaego backup`.
        #[arg(long)]
        input: std::path::PathBuf,
        /// Overwrite an existing database.
        #[arg(long)]
        replace: bool,
    },
    /// Measure throughput, latency, memory and oversell over real HTTP.
    Bench(BenchArgs),
    /// Try hard to break the guarantees: crashes, shutdowns, two instances, overload.
    Torture(TortureArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Scenarios to run: hot-sku, spread, multi-line, mixed, or all; or
    /// `sse` alone: stock changes to live event streams; or `allocation`
    /// alone: one allocation run over `--orders` open orders on
    /// `--catalog-skus` SKUs in `--locations`.
    #[arg(long, default_value = "all", value_delimiter = ',')]
    scenario: Vec<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,
    /// Database for the servers the bench starts (default: SQLite in a temp
    /// dir). With --target: the database that server uses, so that `jaego
    /// verify` can check it afterwards (optional).
    #[arg(long)]
    database_url: Option<String>,
    /// Drive this running server (e.g. http://127.0.0.1:8080) instead of
    /// starting servers. The unbatched figures cannot be measured this way.
    #[arg(long, requires = "token")]
    target: Option<String>,
    /// With --target: a token of the tenant to put the bench data in, allowed
    /// to create locations, SKUs and stock (owner or manager).
    #[arg(long, env = "JAEGO_BENCH_TOKEN", requires = "target")]
    token: Option<String>,
    /// Units of the hot SKU.
    #[arg(long, default_value_t = 100_000)]
    hot_stock: i64,
    /// SKUs seeded before the run, for the memory figure.
    #[arg(long, default_value_t = 10_000)]
    catalog_skus: usize,
    /// Locations the catalog is stocked in.
    #[arg(long, default_value_t = 10)]
    locations: usize,
    /// Open orders (1-5 lines each) for the allocation scenario.
    #[arg(long, default_value_t = 100_000)]
    orders: usize,
    /// Units of every SKU at every location, for the allocation scenario.
    #[arg(long, default_value_t = 8)]
    order_stock: i64,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// `sse`: live event streams to open.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// `sse`: stock changes to make, one at a time.
    #[arg(long, default_value_t = 300)]
    changes: usize,
    /// `sse`: milliseconds between stock changes.
    #[arg(long, default_value_t = 20)]
    change_interval_ms: u64,
}

#[derive(Args)]
struct TortureArgs {
    /// crash (SIGKILL), shutdown (SIGTERM), instances (two servers on one
    /// PostgreSQL) or overload (more clients than the server admits).
    mode: String,
    /// Database for the servers it starts (default: SQLite in a temp dir).
    /// A PostgreSQL database is filled by the run: give it a fresh one.
    #[arg(long)]
    database_url: Option<String>,
    /// Kills, stops or load waves.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Concurrent clients (per wave for overload: wave N has N times as many).
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Seed of the random timing and operations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Longest load before each kill or stop (each overload wave's length), in ms.
    #[arg(long, default_value_t = 1500)]
    max_load_ms: u64,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct DatabaseArgs {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "JAEGO_DATABASE_URL", default_value = "sqlite://jaego.db")]
    database_url: String,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Address and port to listen on.
    #[arg(long, env = "JAEGO_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Log filter, e.g. `info`, `debug`, `jaego_store=debug,info`.
    #[arg(long, env = "JAEGO_LOG", default_value = "info")]
    log_level: String,
    /// Apply concurrent reservations in one transaction (group commit).
    /// Turn off only to measure what it buys.
    #[arg(long, env = "JAEGO_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    group_commit: bool,
    /// Largest database connection pool.
    #[arg(long, env = "JAEGO_MAX_CONNECTIONS", default_value_t = 16)]
    max_connections: u32,
    /// Orders per allocation-run transaction. Smaller chunks hold the
    /// writer (SQLite) or the balance rows' locks (PostgreSQL) for less
    /// time each; larger ones make a run faster.
    #[arg(long, env = "JAEGO_ALLOCATION_CHUNK_ORDERS", default_value_t = jaego_store::orders::runs::RUN_CHUNK_ORDERS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    allocation_chunk_orders: usize,
    /// Mark the session cookie Secure (and name it __Host-jaego_session).
    /// Set it whenever browsers reach jaego over HTTPS.
    #[arg(long, env = "JAEGO_COOKIE_SECURE", default_value_t = false, action = clap::ArgAction::Set)]
    cookie_secure: bool,
    /// A session unused this many seconds ends.
    #[arg(long, env = "JAEGO_SESSION_IDLE_SECS", default_value_t = jaego_core::limits::SESSION_IDLE_SECS_DEFAULT)]
    session_idle_secs: i64,
    /// A session ends this many seconds after sign-in, however busy.
    #[arg(long, env = "JAEGO_SESSION_MAX_SECS", default_value_t = jaego_core::limits::SESSION_ABSOLUTE_SECS_DEFAULT)]
    session_max_secs: i64,
    /// Take the client address from the last X-Forwarded-For entry. Only
    /// behind a reverse proxy that sets that header.
    #[arg(long, env = "JAEGO_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    trust_forwarded_for: bool,
    /// Requests served at once; more wait in a queue.
    #[arg(long, env = "JAEGO_MAX_IN_FLIGHT", default_value_t = jaego_core::limits::IN_FLIGHT_REQUESTS_DEFAULT)]
    max_in_flight: usize,
    /// Requests waiting for a slot; more are answered 503 with Retry-After.
    #[arg(long, env = "JAEGO_MAX_QUEUED", default_value_t = jaego_core::limits::QUEUED_REQUESTS_DEFAULT)]
    max_queued: usize,
    /// Longest a queued request waits for a slot, in milliseconds.
    #[arg(long, env = "JAEGO_QUEUE_WAIT_MS", default_value_t = jaego_core::limits::QUEUE_WAIT_MS_MAX)]
    queue_wait_ms: u64,
    /// Publish every event to NATS JetStream at this URL (e.g.
    /// `nats://127.0.0.1:4222`). A stream must capture the subjects.
    #[arg(long, env = "JAEGO_NATS_URL")]
    nats_url: Option<String>,
    /// The first token of NATS subjects: `<prefix>.<tenant>.<kind>`.
    #[arg(long, env = "JAEGO_NATS_SUBJECT_PREFIX", default_value = "jaego")]
    nats_subject_prefix: String,
    /// `deny`: webhooks are never delivered to this server's own network
    /// (loopback, private and link-local ranges, metadata endpoints…), and
    /// such URLs are refused at registration. `allow`: deliver anywhere,
    /// for receivers on the merchant's own network.
    #[arg(long, env = "JAEGO_WEBHOOK_PRIVATE_TARGETS", default_value = "deny")]
    webhook_private_targets: jaego_server::live::egress::PrivateTargets,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password comes from standard input
    /// (--password-stdin) or an environment variable (--password-env),
    /// never from the command line.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Login name (e.g. an e-mail address); stored lowercase.
        #[arg(long)]
        login: String,
        /// Display name; defaults to the login name.
        #[arg(long)]
        name: Option<String>,
        /// owner, manager, staff, integration or display.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "password_env")]
        password_stdin: bool,
        /// Read the password from this environment variable.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        /// Tenant id; defaults to the first tenant.
        #[arg(long)]
        tenant: Option<jaego_core::TenantId>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print its secret once.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// owner, manager, staff, integration or display.
        #[arg(long)]
        role: Role,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Tenant id; defaults to the first tenant.
        #[arg(long)]
        tenant: Option<jaego_core::TenantId>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jaego: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("jaego: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Token {
            command:
                TokenCommand::Create {
                    database,
                    role,
                    name,
                    tenant,
                },
        } => {
            let store = connect(&database.database_url, StoreOptions::default()).await?;
            let tenant = tenant_or_first(&store, tenant).await?;
            let limit = jaego_core::limits::TOKEN_NAME_LEN_MAX;
            if name.trim().is_empty() || name.chars().count() > limit {
                anyhow::bail!("--name must be 1 to {limit} characters");
            }
            let token = store.create_token(tenant, role, &name).await?;
            println!("{}", token.secret);
            eprintln!(
                "created {role} token {} for tenant {tenant}; the secret above is shown only once",
                token.id
            );
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => bench(args).await,
        Command::Torture(args) => torture(args).await,
        Command::User {
            command:
                UserCommand::Create {
                    database,
                    login,
                    name,
                    role,
                    password_stdin,
                    password_env,
                    tenant,
                },
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                line.trim_end_matches(['\n', '\r']).to_string()
            } else if let Some(var) = password_env {
                std::env::var(&var)
                    .with_context(|| format!("the environment variable {var} is not set"))?
            } else {
                anyhow::bail!(
                    "give --password-stdin or --password-env VAR (passwords are never taken from the command line)"
                );
            };
            let store = connect(&database.database_url, StoreOptions::default()).await?;
            let tenant = tenant_or_first(&store, tenant).await?;
            let user = store
                .create_user(
                    tenant,
                    &jaego_store::users::NewUser {
                        name: name.unwrap_or_else(|| login.clone()),
                        login,
                        role,
                        password,
                    },
                )
                .await;
            store.close().await;
            let user = user?;
            println!("{}", user.id);
            eprintln!(
                "created {role} user {} ({}) for tenant {tenant}",
                user.login, user.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { database, output } => {
            if jaego_store::backup::sqlite_file(&database.database_url).is_none() {
                anyhow::bail!(
                    "jaego backup copies SQLite databases; back PostgreSQL up with pg_dump (see docs/RELIABILITY.md)"
                );
            }
            let store = connect(
                &existing_only(&database.database_url),
                StoreOptions {
                    group_commit: false,
                    ..StoreOptions::default()
                },
            )
            .await?;
            let done = store.backup_sqlite(&output).await;
            store.close().await;
            done?;
            let migrations = jaego_store::backup::check_sqlite_backup(&output).await?;
            println!(
                "ok: backed up to {} ({} bytes, {migrations} migrations)",
                output.display(),
                std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore {
            database,
            input,
            replace,
        } => {
            let target =
                jaego_store::backup::restore_sqlite(&input, &database.database_url, replace)
                    .await?;
            println!("ok: restored {} to {}", input.display(), target.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(database) => {
            // Never create a database just to verify it: a mistyped SQLite
            // path must fail, not report an empty ledger as clean.
            let url = existing_only(&database.database_url);
            let store = connect(
                &url,
                StoreOptions {
                    group_commit: false,
                    ..StoreOptions::default()
                },
            )
            .await?;
            let mismatches = store.verify().await?;
            store.close().await;
            if mismatches.is_empty() {
                println!("ok: every balance equals its ledger");
                Ok(ExitCode::SUCCESS)
            } else {
                for m in &mismatches {
                    println!("MISMATCH {m}");
                }
                println!("{} mismatches", mismatches.len());
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

async fn torture(args: TortureArgs) -> anyhow::Result<ExitCode> {
    use jaego_bench::torture;
    if !(1..=1000).contains(&args.rounds) || !(1..=1024).contains(&args.workers) {
        anyhow::bail!("--rounds must be 1 to 1000 and --workers 1 to 1024");
    }
    let options = torture::TortureOptions {
        jaego_exe: std::env::current_exe()?,
        database_url: args.database_url,
        rounds: args.rounds,
        workers: args.workers,
        seed: args.seed,
        max_load_ms: args.max_load_ms.clamp(100, 600_000),
    };
    let summary = match args.mode.as_str() {
        "crash" => torture::crash(&options).await?,
        "shutdown" => torture::shutdown(&options).await?,
        "instances" => torture::instances(&options).await?,
        "overload" => torture::overload(&options).await?,
        other => {
            anyhow::bail!("unknown mode {other:?}; expected crash, shutdown, instances or overload")
        }
    };
    for p in summary.problems.iter().take(50) {
        println!("PROBLEM {p}");
    }
    println!("{}", summary.line());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.scenario.iter().any(|s| s == "sse") {
        if args.scenario.len() > 1 {
            anyhow::bail!("--scenario sse runs alone");
        }
        let options = jaego_bench::sse::SseOptions {
            subscribers: args.subscribers,
            changes: args.changes,
            interval: std::time::Duration::from_millis(args.change_interval_ms),
            database_url: args.database_url,
            jaego_exe: std::env::current_exe()?,
        };
        let result = jaego_bench::sse::run(&options).await?;
        print!("{}", jaego_bench::sse::render(&result));
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_vec_pretty(&result)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if result.missing > 0 {
            eprintln!("jaego bench: {} arrivals never came", result.missing);
            return Ok(ExitCode::FAILURE);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.scenario.iter().any(|s| s == "allocation") {
        return bench_allocation(args).await;
    }
    let mut scenarios = Vec::new();
    for name in &args.scenario {
        if name == "all" {
            scenarios.extend(jaego_bench::Scenario::ALL);
        } else {
            scenarios.push(
                jaego_bench::Scenario::parse(name)
                    .with_context(|| format!("unknown scenario {name:?}"))?,
            );
        }
    }
    if !(0.1..=600.0).contains(&args.duration_secs) {
        anyhow::bail!("--duration-secs must be between 0.1 and 600");
    }
    let options = jaego_bench::BenchOptions {
        scenarios,
        connections: args.connections,
        duration: std::time::Duration::from_secs_f64(args.duration_secs),
        database_url: args.database_url,
        target: args
            .target
            .zip(args.token)
            .map(|(url, token)| jaego_bench::Target { url, token }),
        jaego_exe: std::env::current_exe()?,
        hot_stock: args.hot_stock,
        catalog_skus: args.catalog_skus,
        locations: args.locations,
    };
    let results = jaego_bench::run(&options).await?;
    print!("{}", jaego_bench::render(&results));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if results.iter().any(|r| r.oversold) {
        eprintln!("jaego bench: the oversell check FAILED");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `tenant`, or the first tenant (bootstrapping an empty database).
async fn tenant_or_first(
    store: &Store,
    tenant: Option<jaego_core::TenantId>,
) -> anyhow::Result<jaego_core::TenantId> {
    if let Some(t) = tenant {
        return Ok(t);
    }
    if let Some(t) = store.first_tenant().await? {
        return Ok(t);
    }
    store.bootstrap().await?;
    store
        .first_tenant()
        .await?
        .context("no tenant after bootstrap")
}

/// A SQLite URL that refuses to create a missing file.
fn existing_only(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains('?') {
        format!("{url}?mode=rw")
    } else {
        url.to_string()
    }
}

async fn bench_allocation(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.scenario.len() != 1 {
        anyhow::bail!("the allocation scenario runs alone");
    }
    let temp = std::env::temp_dir().join(format!("jaego-bench-{}", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    let options = jaego_bench::allocation::AllocationOptions {
        orders: args.orders,
        skus: args.catalog_skus,
        locations: args.locations,
        stock: args.order_stock,
        database_url: args
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", temp.join("bench.db").display())),
        jaego_exe: std::env::current_exe()?,
    };
    let result = jaego_bench::allocation::run(&options).await;
    let _ = std::fs::remove_dir_all(&temp);
    let result = result?;
    print!("{}", jaego_bench::allocation::render(&result));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if result.failed {
        eprintln!("jaego bench: the allocation check FAILED");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn connect(url: &str, options: StoreOptions) -> anyhow::Result<Store> {
    Store::connect(url, options)
        .await
        .with_context(|| format!("opening the database {}", redact(url)))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Logs go to stderr; stdout carries only the one-time bootstrap token.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, not in log files and collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log_level).context("--log-level")?,
        )
        .init();
    let options = StoreOptions {
        group_commit: args.group_commit,
        max_connections: args.max_connections,
        run_chunk_orders: args.allocation_chunk_orders,
    };
    let store = connect(&args.database.database_url, options).await?;
    if let Some(token) = store.bootstrap().await? {
        // Printed, never logged: this is the only time the secret is shown.
        println!(
            "\njaego: created tenant {} and its owner API token (shown only once):\n\n    {}\n",
            token.tenant_id, token.secret
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, engine = store.engine().as_str(), group_commit = args.group_commit, "jaego is serving");
    if args.session_idle_secs < 1 || args.session_max_secs < 1 {
        anyhow::bail!("--session-idle-secs and --session-max-secs must be at least 1");
    }
    let prefix_ok = !args.nats_subject_prefix.is_empty()
        && args.nats_subject_prefix.split('.').all(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if !prefix_ok {
        anyhow::bail!(
            "--nats-subject-prefix must be dot-separated tokens of letters, digits, _ and -"
        );
    }
    let config = jaego_server::ServerConfig {
        cookie_secure: args.cookie_secure,
        session_idle: std::time::Duration::from_secs(args.session_idle_secs.unsigned_abs()),
        session_absolute: std::time::Duration::from_secs(args.session_max_secs.unsigned_abs()),
        trust_forwarded_for: args.trust_forwarded_for,
        max_in_flight: args.max_in_flight.max(1),
        max_queued: args.max_queued,
        queue_wait_ms: args.queue_wait_ms,
        live: jaego_server::live::LiveConfig {
            nats_url: args.nats_url.filter(|u| !u.trim().is_empty()),
            nats_subject_prefix: args.nats_subject_prefix,
            webhooks: jaego_server::live::DeliveryConfig {
                private_targets: args.webhook_private_targets,
                ..jaego_server::live::DeliveryConfig::default()
            },
            ..jaego_server::live::LiveConfig::default()
        },
        jobs: true,
    };
    if config.live.webhooks.private_targets == jaego_server::live::egress::PrivateTargets::Allow {
        tracing::info!(
            "webhooks may be delivered to this server's own network (--webhook-private-targets allow)"
        );
    }
    if let Some(url) = &config.live.nats_url {
        tracing::info!(nats = %redact(url), prefix = %config.live.nats_subject_prefix, "publishing events to NATS JetStream");
    }
    jaego_server::serve_with(store, listener, shutdown_signal(), config).await?;
    tracing::info!("jaego stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
