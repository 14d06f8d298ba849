//! The `grantd` command: `serve` and the admin commands, which work on the
//! data directory directly (safe beside a running server: SQLite WAL).

use crate::app::{
    open_existing_store, open_grantd, raise_and_log_open_files_limit, shutdown_signal, Access,
    Application,
};
use crate::config::{Config, ShutdownSettings};
use crate::domain::catalog::{self, Catalog, UrlPolicy};
use crate::domain::model::Project;
use crate::domain::RefreshSettings;
use crate::domain::{
    Actor, AuditQuery, AuditRecord, Grantd, JwtAlgorithm, JwtSettings, ProxySettings,
    RotationProgress, Scope, Scopes,
};
use crate::http::rate_limit::{Bucket, RateLimits};
use crate::http::server::ConnectionLimits;
use crate::secrets::{Cipher, SecretString};
use crate::storage::{Backend, PostgresSettings, SealedRows};
use crate::telemetry::{self, LogFormat};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use url::Url;

#[derive(Debug, Parser)]
#[command(
    name = "grantd",
    version,
    about = "Self-hosted connection service for SaaS integrations"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// Directory for the SQLite database and the generated encryption key.
    #[arg(
        long,
        env = "GRANTD_DATA_DIR",
        default_value = "./grantd-data",
        global = true
    )]
    data_dir: PathBuf,
    /// TOML file of providers to add to (or override in) the built-in catalog.
    #[arg(long, env = "GRANTD_PROVIDERS_FILE", global = true)]
    providers_file: Option<PathBuf>,
    /// `postgres://user:pass@host/db` to share one database between several
    /// instances (needs GRANTD_ENCRYPTION_KEY); default: SQLite in the data dir.
    #[arg(
        long,
        env = "GRANTD_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Largest PostgreSQL connection pool of this instance.
    #[arg(
        long,
        env = "GRANTD_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    database_max_connections: u32,
    /// PostgreSQL statement timeout, in seconds.
    #[arg(
        long,
        env = "GRANTD_DATABASE_STATEMENT_TIMEOUT_SECS",
        default_value_t = 15,
        global = true
    )]
    database_statement_timeout_secs: u64,
    /// Log format.
    #[arg(
        long,
        env = "GRANTD_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage a project's API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Manage the public keys that verify a project's bearer JWTs.
    #[command(subcommand, name = "jwt-key")]
    JwtKey(JwtKeyCommand),
    /// Print a new encryption key for GRANTD_ENCRYPTION_KEY.
    Keygen,
    /// Read the audit trail, newest first: who read which credentials and
    /// who changed connections, provider apps, origins and keys.
    Audit(AuditArgs),
    /// Which keys seal the stored secrets, and re-sealing them under the
    /// first key of the keyring so older keys can be removed.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a consistent copy of the SQLite store to FILE (safe while
    /// grantd serves). The keyring is not in it: keep it apart.
    Backup {
        /// The copy to write; it must not exist.
        file: PathBuf,
    },
    /// Inspect the provider catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// How many sealed secrets each key id seals, per table.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Re-seal every secret under the keyring's first key, while grantd
    /// serves; safe to interrupt and run again, and from several hosts.
    Rotate {
        /// Secrets re-sealed per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Lint catalog files by the rules for shipped entries (https only,
    /// docs and API URLs present), and check their names against the
    /// other shipped files.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the catalog (with --providers-file applied) as a Markdown table.
    Table,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRANTD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Public base URL; the OAuth redirect URI is {public-url}/callbacks/v1/oauth.
    #[arg(long, env = "GRANTD_PUBLIC_URL")]
    public_url: Option<Url>,
    /// Seconds an OAuth flow's state stays valid.
    #[arg(long, env = "GRANTD_OAUTH_STATE_TTL_SECS", default_value_t = 600)]
    oauth_state_ttl_secs: u64,
    /// Renew OAuth tokens at least this many seconds before they expire
    /// (or 10% of their lifetime, whichever is longer).
    #[arg(long, env = "GRANTD_REFRESH_LEAD_SECS", default_value_t = 300)]
    refresh_lead_secs: u64,
    /// Seconds a refresh lease holds; a crashed instance's work is taken over after it.
    #[arg(long, env = "GRANTD_REFRESH_LEASE_SECS", default_value_t = 60)]
    refresh_lease_secs: u64,
    /// How often the refresher looks for due tokens, in milliseconds.
    #[arg(long, env = "GRANTD_REFRESH_TICK_MS", default_value_t = 1000)]
    refresh_tick_ms: u64,
    /// Token refreshes in flight at once, in all.
    #[arg(long, env = "GRANTD_REFRESH_CONCURRENCY", default_value_t = 64)]
    refresh_concurrency: usize,
    /// Token refreshes in flight at once against one provider.
    #[arg(long, env = "GRANTD_REFRESH_PER_PROVIDER", default_value_t = 8)]
    refresh_per_provider: usize,
    /// First retry delay after a failed refresh, in milliseconds (doubles per failure).
    #[arg(long, env = "GRANTD_REFRESH_BACKOFF_MS", default_value_t = 5000)]
    refresh_backoff_ms: u64,
    /// Milliseconds this instance trusts the API keys, JWT keys and provider
    /// apps it has read: a revocation or change made by another instance or
    /// the admin CLI takes effect here within this time (changes made
    /// through this instance at once). 0 reads them on every request.
    #[arg(long, env = "GRANTD_CACHE_TTL_MS", default_value_t = 5000)]
    cache_ttl_ms: u64,
    /// Let webhooks be delivered to loopback, private, link-local and other
    /// non-public addresses (never to cloud metadata addresses), and over
    /// plain http to 127.0.0.1, ::1 or localhost: for receivers on your own
    /// network. Off, any API key could make grantd probe that network.
    #[arg(
        long,
        env = "GRANTD_WEBHOOK_ALLOW_PRIVATE",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    webhook_allow_private: bool,
    /// The `aud` bearer JWTs must name; default: the public URL (with or
    /// without its trailing slash).
    #[arg(long, env = "GRANTD_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// The `iss` bearer JWTs must name; not checked when unset.
    #[arg(long, env = "GRANTD_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// Longest lifetime (`exp - iat`) of an accepted bearer JWT, in seconds.
    #[arg(long, env = "GRANTD_JWT_MAX_LIFETIME_SECS", default_value_t = 3600)]
    jwt_max_lifetime_secs: u64,
    /// Seconds a client has to send a request's whole header, from its
    /// first byte (or from connecting); slower clients are disconnected.
    #[arg(long, env = "GRANTD_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// Seconds a connection with no request in flight may stay silent
    /// before it is closed; keep it above the idle timeout of the proxy in front.
    #[arg(long, env = "GRANTD_IDLE_TIMEOUT_SECS", default_value_t = 75)]
    idle_timeout_secs: u64,
    /// Most client connections open at once; at the cap, new clients wait
    /// until one closes.
    #[arg(long, env = "GRANTD_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Address to serve Prometheus metrics on (`GET /metrics`), apart from
    /// the API; off unless given. Keep it off the public network.
    #[arg(long, env = "GRANTD_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Seconds grantd keeps serving after SIGTERM with /readyz answering
    /// 503, so a load balancer polling it stops sending first.
    #[arg(long, env = "GRANTD_SHUTDOWN_DRAIN_DELAY_SECS", default_value_t = 0)]
    shutdown_drain_delay_secs: u64,
    /// Seconds, once accepting stops, that requests, token refreshes and
    /// webhook deliveries in flight get to finish before grantd exits.
    #[arg(long, env = "GRANTD_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    shutdown_timeout_secs: u64,
    /// Days connection events are kept (those a webhook delivery still
    /// waits to send are kept until it is done).
    #[arg(long, env = "GRANTD_EVENT_RETENTION_DAYS", default_value_t = 90)]
    event_retention_days: u64,
    /// Days delivered and failed webhook deliveries are kept.
    #[arg(
        long,
        env = "GRANTD_WEBHOOK_DELIVERY_RETENTION_DAYS",
        default_value_t = 30
    )]
    webhook_delivery_retention_days: u64,
    /// Days audit records are kept (the longest of the three by default).
    #[arg(long, env = "GRANTD_AUDIT_RETENTION_DAYS", default_value_t = 400)]
    audit_retention_days: u64,
    /// Requests per second and burst (`RATE/BURST`, `0` for no limit) for
    /// each API key or bearer token.
    #[arg(long, env = "GRANTD_RATE_LIMIT_API_KEY", default_value = "100/200", value_parser = parse_bucket)]
    rate_limit_api_key: RateArg,
    /// The same for each client address on the authenticated API.
    #[arg(long, env = "GRANTD_RATE_LIMIT_ADDRESS", default_value = "200/400", value_parser = parse_bucket)]
    rate_limit_address: RateArg,
    /// The same for each client address on the OAuth callback and the
    /// connect page and its API.
    #[arg(long, env = "GRANTD_RATE_LIMIT_UNAUTHENTICATED", default_value = "10/30", value_parser = parse_bucket)]
    rate_limit_unauthenticated: RateArg,
    /// Apply the rate limits to loopback clients too.
    #[arg(
        long,
        env = "GRANTD_RATE_LIMIT_LOOPBACK",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    rate_limit_loopback: bool,
    /// Address of the proxy's own listener, where every path is the
    /// provider's (`/{*path}`); the main listener serves it under `/proxy/`.
    #[arg(long, env = "GRANTD_PROXY_LISTEN")]
    proxy_listen: Option<SocketAddr>,
    /// Seconds a proxied call may take to connect to the provider.
    #[arg(long, env = "GRANTD_PROXY_CONNECT_TIMEOUT_SECS", default_value_t = 10)]
    proxy_connect_timeout_secs: u64,
    /// Seconds a proxied call may wait for the provider's response header.
    #[arg(
        long,
        env = "GRANTD_PROXY_FIRST_BYTE_TIMEOUT_SECS",
        default_value_t = 60
    )]
    proxy_first_byte_timeout_secs: u64,
    /// Seconds a proxied call may take in all, its response body included.
    #[arg(long, env = "GRANTD_PROXY_TOTAL_TIMEOUT_SECS", default_value_t = 900)]
    proxy_total_timeout_secs: u64,
    /// Largest request body a proxied call may carry, in bytes.
    #[arg(long, env = "GRANTD_PROXY_MAX_BODY_BYTES", default_value_t = 100 * 1024 * 1024)]
    proxy_max_body_bytes: u64,
}

/// A rate limit flag's value: a bucket, or none for `0`.
#[derive(Clone, Debug, PartialEq)]
struct RateArg(Option<Bucket>);

/// `RATE/BURST` or `RATE` (burst = rate) requests per second; `0` is no limit.
fn parse_bucket(value: &str) -> Result<RateArg, String> {
    let (rate, burst) = value.split_once('/').unwrap_or((value, value));
    let number = |text: &str| {
        text.trim()
            .parse::<u32>()
            .map_err(|_| format!("{value:?}: expected RATE/BURST, e.g. 100/200, or 0 for none"))
    };
    let (per_second, burst) = (number(rate)?, number(burst)?);
    Ok(RateArg((per_second > 0).then_some(Bucket {
        per_second,
        burst: burst.max(per_second),
    })))
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// Only this project's records; without it, every project's and the
    /// instance-wide ones (key rotation).
    #[arg(long)]
    project: Option<String>,
    /// Only records about this connection.
    #[arg(long)]
    connection: Option<String>,
    /// Only records of this caller: an API key id or a JWT kid.
    #[arg(long)]
    caller: Option<String>,
    /// Only this action, e.g. credentials.read.
    #[arg(long)]
    action: Option<String>,
    /// Records at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Records before this time (RFC 3339).
    #[arg(long)]
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// Most records printed.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// One JSON object per line, as the API shows them.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Create a project and its first API key.
    Create {
        name: String,
        /// Print {"projectId", "projectName", "apiKey"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List projects.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a project: the name its end users see (Ampersand's `appName`).
    Update {
        /// The project's id or name.
        project: String,
        /// The name shown to end users in connection flows.
        #[arg(long)]
        app_name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create an API key; it is printed once.
    Create {
        #[arg(long)]
        project: String,
        #[arg(long, default_value = "default")]
        label: String,
        /// A scope the key holds; repeat or separate with commas. Without
        /// any, the key gets every scope (full access).
        #[arg(long = "scope", value_enum, value_delimiter = ',')]
        scopes: Vec<Scope>,
        #[arg(long)]
        json: bool,
    },
    /// List API keys (prefixes and scopes only).
    List {
        #[arg(long)]
        project: String,
    },
    /// Revoke an API key by id.
    Revoke {
        #[arg(long)]
        project: String,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum JwtKeyCommand {
    /// Register a public key (PEM); JWTs name it in their `kid` header.
    Add {
        #[arg(long)]
        project: String,
        #[arg(long, value_enum)]
        algorithm: JwtAlgorithm,
        /// PEM file with the public key.
        #[arg(long)]
        public_key: PathBuf,
        /// Key id; a new UUID when omitted.
        #[arg(long)]
        kid: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List registered keys.
    List {
        #[arg(long)]
        project: String,
    },
    /// Remove a key by id.
    Remove {
        #[arg(long)]
        project: String,
        kid: String,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log_guard = telemetry::init(cli.global.log_format);
    // Tasks woken from outside the runtime (by sqlx's SQLite worker threads:
    // every database answer, and the write queue that all writes wait on)
    // land in the global queue; checking it every 4 polls (rather than at
    // tokio's self-tuned interval) keeps them from waiting behind a worker's
    // local backlog under load.
    // Its effect on the benchmark was within run-to-run noise.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .global_queue_interval(4)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config(global: &GlobalArgs) -> Config {
    let mut config = Config::for_data_dir(&global.data_dir);
    config.providers_file = global.providers_file.clone();
    config.database_url = global.database_url.clone();
    config.postgres = PostgresSettings {
        max_connections: global.database_max_connections.max(1),
        statement_timeout: Duration::from_secs(global.database_statement_timeout_secs.max(1)),
    };
    config.encryption_key = std::env::var("GRANTD_ENCRYPTION_KEY")
        .ok()
        .map(SecretString::new);
    config
}

/// The admin commands' handle: same store, catalog and keys as the server.
/// Every command but `project create` needs a project, so only that one
/// may create a store; the others pass `Access::Existing`.
async fn admin(global: &GlobalArgs, access: Access) -> anyhow::Result<Grantd> {
    let config = config(global);
    let placeholder = Url::parse("http://127.0.0.1/")?;
    open_grantd(&config, &placeholder, access).await
}

/// `grantd catalog check`: each file alone, then its names against the
/// shipped files other than its own namesake.
fn check_catalog_files(files: &[PathBuf]) -> anyhow::Result<()> {
    for path in files {
        let entries = catalog::parse_file(path, UrlPolicy::HttpsOnly)?;
        let own_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        for (file, text) in catalog::BUILTIN_FILES {
            if *file == own_name {
                continue;
            }
            let shipped = catalog::parse(text, file, UrlPolicy::HttpsOnly)?;
            if let Some(name) = entries.keys().find(|name| shipped.contains_key(*name)) {
                anyhow::bail!(
                    "{}: provider {name} is already defined in {file}",
                    path.display()
                );
            }
        }
        let checked = entries.values().filter(|p| !p.sources.is_empty()).count();
        println!(
            "ok: {} providers in {} ({checked} with sources)",
            entries.len(),
            path.display()
        );
    }
    Ok(())
}

/// Per key id: how many secrets it seals and in which tables, the active
/// key marked.
fn print_key_status(active: &str, sealed: &[SealedRows], json: bool) {
    let mut keys: Vec<&str> = sealed.iter().map(|r| r.key_id.as_str()).collect();
    keys.dedup();
    if !keys.contains(&active) {
        keys.insert(0, active);
    }
    if json {
        let list: Vec<_> = keys
            .iter()
            .map(|key| {
                let tables: serde_json::Map<String, serde_json::Value> = sealed
                    .iter()
                    .filter(|r| r.key_id == *key)
                    .map(|r| (r.table.clone(), json!(r.count)))
                    .collect();
                let total: i64 = sealed
                    .iter()
                    .filter(|r| r.key_id == *key)
                    .map(|r| r.count)
                    .sum();
                json!({"keyId": key, "active": *key == active, "sealed": total, "tables": tables})
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    for key in keys {
        let rows: Vec<&SealedRows> = sealed.iter().filter(|r| r.key_id == key).collect();
        let total: i64 = rows.iter().map(|r| r.count).sum();
        let tables = rows
            .iter()
            .map(|r| format!("{}={}", r.table, r.count))
            .collect::<Vec<_>>()
            .join(" ");
        let mark = if key == active { " (active)" } else { "" };
        println!("{key}{mark}\t{total}\t{tables}");
    }
}

/// `grantd keys rotate`: a progress bar on a terminal, a summary at the
/// end, and a failure while anything is left under an older key.
async fn rotate_keys(grantd: &Grantd, batch_size: usize, json: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} secrets re-sealed ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut on_progress = |progress: RotationProgress| {
        if let Some(bar) = &bar {
            bar.set_length(progress.total);
            bar.set_position(progress.done);
        }
    };
    let summary = grantd.rotate_keys(batch_size, &mut on_progress).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let remaining: i64 = summary.remaining.iter().map(|r| r.count).sum();
    if json {
        println!(
            "{}",
            json!({
                "activeKeyId": summary.active_key_id,
                "resealed": summary.resealed,
                "changedMeanwhile": summary.changed_meanwhile,
                "unreadable": summary.unreadable,
                "remaining": remaining,
                "elapsedMs": summary.elapsed.as_millis() as u64,
                "rowsPerSecond": summary.rows_per_second().round(),
            })
        );
    } else {
        println!(
            "re-sealed {} secrets under key {} in {:.1}s ({:.0}/s); {} were rewritten meanwhile, {} do not open",
            summary.resealed,
            summary.active_key_id,
            summary.elapsed.as_secs_f64(),
            summary.rows_per_second(),
            summary.changed_meanwhile,
            summary.unreadable,
        );
    }
    if remaining > 0 {
        let keys: Vec<String> = summary
            .remaining
            .iter()
            .map(|r| format!("{} in {}: {}", r.key_id, r.table, r.count))
            .collect();
        anyhow::bail!(
            "{remaining} secrets are still sealed by older keys ({}): an instance whose \
             keyring does not list {} first is still sealing with an older key; update \
             every instance's keyring and run `grantd keys rotate` again",
            keys.join(", "),
            summary.active_key_id
        );
    }
    eprintln!(
        "every secret is sealed by {}: older keys may now be removed from the keyring",
        summary.active_key_id
    );
    Ok(())
}

async fn project(grantd: &Grantd, id_or_name: &str) -> anyhow::Result<Project> {
    grantd
        .find_project(id_or_name)
        .await
        .with_context(|| format!("project {id_or_name}"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Serve(args) => {
            let mut config = config(global);
            config.listen = args.listen;
            config.public_url = args.public_url;
            config.oauth_state_ttl = Duration::from_secs(args.oauth_state_ttl_secs);
            config.cache_ttl = Duration::from_millis(args.cache_ttl_ms);
            config.webhooks.allow_private = args.webhook_allow_private;
            if args.webhook_allow_private {
                tracing::warn!("webhooks may be delivered to private and loopback addresses (--webhook-allow-private)");
            }
            config.jwt = JwtSettings {
                audience: args.jwt_audience,
                issuer: args.jwt_issuer,
                max_lifetime: Duration::from_secs(args.jwt_max_lifetime_secs),
            };
            config.refresh = RefreshSettings {
                lead_min: Duration::from_secs(args.refresh_lead_secs),
                lease: Duration::from_secs(args.refresh_lease_secs.max(1)),
                tick: Duration::from_millis(args.refresh_tick_ms.max(1)),
                concurrency: args.refresh_concurrency.max(1),
                per_provider: args.refresh_per_provider.max(1),
                backoff_base: Duration::from_millis(args.refresh_backoff_ms),
                ..RefreshSettings::default()
            };
            config.connections = ConnectionLimits {
                header_read_timeout: Duration::from_secs(args.header_read_timeout_secs.max(1)),
                idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
                max_connections: args.max_connections.max(1),
            };
            config.metrics_listen = args.metrics_listen;
            config.shutdown = ShutdownSettings {
                drain_delay: Duration::from_secs(args.shutdown_drain_delay_secs),
                timeout: Duration::from_secs(args.shutdown_timeout_secs),
            };
            config.retention.events = Duration::from_secs(args.event_retention_days * 86_400);
            config.retention.webhook_deliveries =
                Duration::from_secs(args.webhook_delivery_retention_days * 86_400);
            config.retention.audit_records =
                Duration::from_secs(args.audit_retention_days * 86_400);
            config.rate_limits = RateLimits {
                per_credential: args.rate_limit_api_key.0,
                per_address: args.rate_limit_address.0,
                unauthenticated_per_address: args.rate_limit_unauthenticated.0,
                exempt_loopback: !args.rate_limit_loopback,
            };
            config.proxy_listen = args.proxy_listen;
            config.proxy = ProxySettings {
                connect_timeout: Duration::from_secs(args.proxy_connect_timeout_secs.max(1)),
                first_byte_timeout: Duration::from_secs(args.proxy_first_byte_timeout_secs.max(1)),
                total_timeout: Duration::from_secs(args.proxy_total_timeout_secs.max(1)),
                max_request_body: args.proxy_max_body_bytes,
            };
            raise_and_log_open_files_limit(config.connections.max_connections);
            let app = Application::build(config).await?;
            app.run_until(shutdown_signal()).await
        }
        Command::Audit(args) => {
            let grantd = admin(global, Access::Existing).await?;
            print_audit(&grantd, args).await
        }
        Command::Keygen => {
            println!("{}", Cipher::generate_spec());
            Ok(())
        }
        Command::Keys(KeysCommand::Status { json }) => {
            let grantd = admin(global, Access::Existing).await?;
            let sealed = grantd.sealed_values_by_key().await?;
            print_key_status(grantd.active_key_id(), &sealed, json);
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate { batch_size, json }) => {
            let grantd = admin(global, Access::Existing).await?;
            rotate_keys(&grantd, batch_size, json).await
        }
        Command::Backup { file } => {
            let store = open_existing_store(&config(global)).await?;
            if store.backend() != Backend::Sqlite {
                anyhow::bail!(
                    "grantd backup copies a SQLite store; back up PostgreSQL with pg_dump \
                     (see the README's Operations section)"
                );
            }
            if file.exists() {
                anyhow::bail!("{} exists already; name a new file", file.display());
            }
            let started = std::time::Instant::now();
            store
                .backup_into(&file)
                .await
                .with_context(|| format!("writing the backup {}", file.display()))?;
            store.close().await;
            println!(
                "backup written to {} in {:.1}s; keep the keyring (GRANTD_ENCRYPTION_KEY or \
                 the data directory's encryption.key) apart from it: it cannot be opened without it",
                file.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Catalog(CatalogCommand::Check { files }) => check_catalog_files(&files),
        Command::Catalog(CatalogCommand::Table) => {
            let catalog = Catalog::load(global.providers_file.as_deref())?;
            print!("{}", catalog.markdown_table());
            Ok(())
        }
        Command::Project(ProjectCommand::Create { name, json }) => {
            let grantd = admin(global, Access::Create).await?;
            let created = grantd.create_project(&name).await?;
            if json {
                println!(
                    "{}",
                    json!({
                        "projectId": created.project.id,
                        "projectName": created.project.name,
                        "apiKey": created.api_key.expose(),
                    })
                );
            } else {
                println!("project {} ({})", created.project.name, created.project.id);
                println!("api key (shown once): {}", created.api_key.expose());
            }
            Ok(())
        }
        Command::Project(ProjectCommand::Update {
            project: p,
            app_name,
        }) => {
            let grantd = admin(global, Access::Existing).await?;
            let found = project(&grantd, &p).await?;
            let updated = grantd
                .update_project(&found.id, None, Some(&app_name))
                .await?;
            println!("project {} shows as {}", updated.name, updated.app_name);
            Ok(())
        }
        Command::Project(ProjectCommand::List { json }) => {
            let grantd = admin(global, Access::Existing).await?;
            let projects = grantd.list_projects().await?;
            if json {
                let list: Vec<_> = projects
                    .iter()
                    .map(|p| json!({"projectId": p.id, "projectName": p.name, "appName": p.app_name, "createTime": p.create_time}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for p in projects {
                    println!("{}\t{}", p.id, p.name);
                }
            }
            Ok(())
        }
        Command::ApiKey(command) => {
            let grantd = admin(global, Access::Existing).await?;
            match command {
                ApiKeyCommand::Create {
                    project: p,
                    label,
                    scopes,
                    json,
                } => {
                    let project = project(&grantd, &p).await?;
                    let scopes = if scopes.is_empty() {
                        Scopes::all()
                    } else {
                        Scopes::from_iter(scopes)
                    };
                    let key = grantd
                        .create_api_key(&Actor::cli(), &project.id, &label, scopes)
                        .await?;
                    if json {
                        println!(
                            "{}",
                            json!({
                                "id": key.info.id,
                                "apiKey": key.key.expose(),
                                "projectId": project.id,
                                "scopes": key.info.scopes.names(),
                            })
                        );
                    } else {
                        println!("{}\t{}", key.info.id, key.key.expose());
                    }
                }
                ApiKeyCommand::List { project: p } => {
                    let project = project(&grantd, &p).await?;
                    for key in grantd.list_api_keys(&project.id).await? {
                        let state = if key.revoke_time.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        println!(
                            "{}\t{}…\t{}\t{}\t{}",
                            key.id,
                            key.display_prefix,
                            key.label,
                            state,
                            key.scopes.names().join(",")
                        );
                    }
                }
                ApiKeyCommand::Revoke { project: p, id } => {
                    let project = project(&grantd, &p).await?;
                    grantd
                        .revoke_api_key(&Actor::cli(), &project.id, &id)
                        .await?;
                    println!("revoked {id}");
                }
            }
            Ok(())
        }
        Command::JwtKey(command) => {
            let grantd = admin(global, Access::Existing).await?;
            match command {
                JwtKeyCommand::Add {
                    project: p,
                    algorithm,
                    public_key,
                    kid,
                    json,
                } => {
                    let project = project(&grantd, &p).await?;
                    let pem = std::fs::read_to_string(&public_key)
                        .with_context(|| format!("reading {}", public_key.display()))?;
                    let key = grantd
                        .add_jwt_key(&Actor::cli(), &project.id, algorithm, &pem, kid)
                        .await?;
                    if json {
                        println!(
                            "{}",
                            json!({"kid": key.id, "algorithm": key.algorithm, "projectId": project.id})
                        );
                    } else {
                        println!("{}", key.id);
                    }
                }
                JwtKeyCommand::List { project: p } => {
                    let project = project(&grantd, &p).await?;
                    for key in grantd.list_jwt_keys(&project.id).await? {
                        println!("{}\t{}", key.id, key.algorithm);
                    }
                }
                JwtKeyCommand::Remove { project: p, kid } => {
                    let project = project(&grantd, &p).await?;
                    grantd
                        .remove_jwt_key(&Actor::cli(), &project.id, &kid)
                        .await?;
                    println!("removed {kid}");
                }
            }
            Ok(())
        }
    }
}

/// `grantd audit`: pages through the trail until `limit` records are shown.
async fn print_audit(grantd: &Grantd, args: AuditArgs) -> anyhow::Result<()> {
    let project_id = match &args.project {
        Some(p) => Some(project(grantd, p).await?.id),
        None => None,
    };
    let mut shown = 0;
    let mut page_token = None;
    while shown < args.limit {
        let page = grantd
            .list_audit(
                project_id.as_deref(),
                AuditQuery {
                    connection_id: args.connection.clone(),
                    caller_id: args.caller.clone(),
                    action: args.action.clone(),
                    since: args.since,
                    until: args.until,
                    page_size: Some((args.limit - shown).min(500) as i64),
                    page_token: page_token.take(),
                },
            )
            .await?;
        for record in &page.records {
            if args.json {
                println!("{}", audit_json(record));
            } else {
                let caller = match (&record.caller_id, &record.caller_subject) {
                    (Some(id), Some(sub)) => format!("{}:{id}:{sub}", record.caller_type()),
                    (Some(id), None) => format!("{}:{id}", record.caller_type()),
                    _ => record.caller_type().to_owned(),
                };
                let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    record
                        .time
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    dash(&record.project_id),
                    record.action,
                    caller,
                    dash(&record.connection_id.clone().or(record.target_id.clone())),
                    dash(&record.client_address),
                    dash(&record.request_id),
                    record.detail
                );
            }
        }
        shown += page.records.len();
        match page.next_page_token {
            Some(token) => page_token = Some(token),
            None => break,
        }
    }
    Ok(())
}

fn audit_json(record: &AuditRecord) -> serde_json::Value {
    json!({
        "id": record.id,
        "projectId": record.project_id,
        "time": record.time,
        "action": record.action,
        "connectionId": record.connection_id,
        "targetId": record.target_id,
        "caller": {
            "type": record.caller_type(),
            "id": record.caller_id,
            "subject": record.caller_subject,
        },
        "clientAddress": record.client_address,
        "requestId": record.request_id,
        "detail": record.detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> ServeArgs {
        let argv = ["grantd", "serve"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(args) => *args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn rate_limits_parse_as_rate_and_burst_and_zero_turns_one_off() {
        let args = serve_args(&["--rate-limit-api-key", "5/20", "--rate-limit-address", "0"]);
        assert_eq!(
            args.rate_limit_api_key.0,
            Some(Bucket {
                per_second: 5,
                burst: 20
            })
        );
        assert_eq!(args.rate_limit_address.0, None);
        assert!(parse_bucket("fast").is_err());
    }

    #[test]
    fn private_webhook_destinations_are_off_unless_the_flag_is_given() {
        // The variable would turn it on; the suite never sets it.
        if std::env::var_os("GRANTD_WEBHOOK_ALLOW_PRIVATE").is_none() {
            assert!(!serve_args(&[]).webhook_allow_private);
        }
        assert!(serve_args(&["--webhook-allow-private"]).webhook_allow_private);
    }
}
