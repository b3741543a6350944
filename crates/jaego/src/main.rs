//! The `jaego` command: a thin shell over the library crates.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use jaego_core::Role;
use jaego_store::{Store, StoreOptions};

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
    /// Recompute every balance from the ledger; exit 1 on any mismatch.
    Verify(DatabaseArgs),
    /// Measure throughput, latency, memory and oversell over real HTTP.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Scenarios to run: hot-sku, spread, multi-line, mixed, or all.
    #[arg(long, default_value = "all", value_delimiter = ',')]
    scenario: Vec<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,
    /// Database for the servers the bench starts (default: SQLite in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Units of the hot SKU.
    #[arg(long, default_value_t = 100_000)]
    hot_stock: i64,
    /// SKUs seeded before the run, for the memory figure.
    #[arg(long, default_value_t = 10_000)]
    catalog_skus: usize,
    /// Locations the catalog is stocked in.
    #[arg(long, default_value_t = 10)]
    locations: usize,
    /// Write the results as JSON to this file.
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
            let tenant = match tenant {
                Some(t) => t,
                None => match store.first_tenant().await? {
                    Some(t) => t,
                    None => {
                        store.bootstrap().await?;
                        store
                            .first_tenant()
                            .await?
                            .context("no tenant after bootstrap")?
                    }
                },
            };
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
        Command::Verify(database) => {
            // Never create a database just to verify it: a mistyped SQLite
            // path must fail, not report an empty ledger as clean.
            let url = if database.database_url.starts_with("sqlite:")
                && !database.database_url.contains('?')
            {
                format!("{}?mode=rw", database.database_url)
            } else {
                database.database_url.clone()
            };
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
                    println!(
                        "MISMATCH sku={} location={} {}: stored {} but ledger says {}",
                        m.sku_id, m.location_id, m.figure, m.stored, m.expected
                    );
                }
                println!("{} mismatches", mismatches.len());
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
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
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log_level).context("--log-level")?,
        )
        .init();
    let options = StoreOptions {
        group_commit: args.group_commit,
        max_connections: args.max_connections,
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
    jaego_server::serve(store, listener, shutdown_signal()).await?;
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
