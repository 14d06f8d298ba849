//! The `grantd` command: `serve` and the admin commands, which work on the
//! data directory directly (safe beside a running server: SQLite WAL).

mod audit;
mod backup;
mod catalog_check;
mod keys;
mod projects;
mod serve;

use crate::app::{
    open_grantd, raise_and_log_open_files_limit, shutdown_signal, Access, Application,
};
use crate::config::Config;
use crate::domain::catalog::Catalog;
use crate::domain::model::Project;
use crate::domain::Grantd;
use crate::secrets::{Cipher, SecretString};
use crate::storage::PostgresSettings;
use crate::telemetry::{self, LogFormat};
use anyhow::Context;
use audit::{print_audit, AuditArgs};
use backup::backup;
use catalog_check::check_catalog_files;
use clap::{Args, Parser, Subcommand};
use keys::{print_key_status, rotate_keys};
use projects::{
    run_api_key, run_jwt_key, run_project, ApiKeyCommand, JwtKeyCommand, ProjectCommand,
};
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
            args.apply_to(&mut config);
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
        Command::Backup { file } => backup(&config(global), &file).await,
        Command::Catalog(CatalogCommand::Check { files }) => check_catalog_files(&files),
        Command::Catalog(CatalogCommand::Table) => {
            let catalog = Catalog::load(global.providers_file.as_deref())?;
            print!("{}", catalog.markdown_table());
            Ok(())
        }
        Command::Project(command) => run_project(global, command).await,
        Command::ApiKey(command) => run_api_key(global, command).await,
        Command::JwtKey(command) => run_jwt_key(global, command).await,
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
