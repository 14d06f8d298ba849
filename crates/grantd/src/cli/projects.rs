//! `grantd project`, `api-key` and `jwt-key`: a project and the
//! credentials its callers present. Apart from `mod.rs` so that the
//! dispatcher reads as a list and each family keeps its output formats.

use super::{admin, project, GlobalArgs};
use crate::app::Access;
use crate::domain::{Actor, JwtAlgorithm, Scope, Scopes};
use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum ProjectCommand {
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
pub(super) enum ApiKeyCommand {
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
pub(super) enum JwtKeyCommand {
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

/// Runs a `grantd project …` command.
pub(super) async fn run_project(
    global: &GlobalArgs,
    command: ProjectCommand,
) -> anyhow::Result<()> {
    match command {
        ProjectCommand::Create { name, json } => {
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
        }
        ProjectCommand::Update {
            project: p,
            app_name,
        } => {
            let grantd = admin(global, Access::Existing).await?;
            let found = project(&grantd, &p).await?;
            let updated = grantd
                .update_project(&found.id, None, Some(&app_name))
                .await?;
            println!("project {} shows as {}", updated.name, updated.app_name);
        }
        ProjectCommand::List { json } => {
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
        }
    }
    Ok(())
}

/// Runs a `grantd api-key …` command.
pub(super) async fn run_api_key(global: &GlobalArgs, command: ApiKeyCommand) -> anyhow::Result<()> {
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

/// Runs a `grantd jwt-key …` command.
pub(super) async fn run_jwt_key(global: &GlobalArgs, command: JwtKeyCommand) -> anyhow::Result<()> {
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
