//! The `grantd` command: `serve` and the admin commands, which work on the
//! data directory directly (safe beside a running server: SQLite WAL).

mod audit;
mod catalog_check;
mod keys;
mod serve;

use crate::app::{
    open_existing_store, open_grantd, raise_and_log_open_files_limit, shutdown_signal, Access,
    Application,
};
use crate::config::{Config, ShutdownSettings};
use crate::domain::catalog::Catalog;
use crate::domain::model::Project;
use crate::domain::RefreshSettings;
use crate::domain::{Actor, Grantd, JwtAlgorithm, JwtSettings, ProxySettings, Scope, Scopes};
use crate::http::rate_limit::RateLimits;
use crate::http::server::ConnectionLimits;
use crate::secrets::{Cipher, SecretString};
use crate::storage::{Backend, PostgresSettings};
use crate::telemetry::{self, LogFormat};
use anyhow::Context;
use audit::{print_audit, AuditArgs};
use catalog_check::check_catalog_files;
use clap::{Args, Parser, Subcommand};
use keys::{print_key_status, rotate_keys};
use serde_json::json;
use serve::ServeArgs;
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

#[cfg(test)]
mod tests {
    use super::serve::parse_bucket;
    use super::*;
    use crate::http::rate_limit::Bucket;

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
