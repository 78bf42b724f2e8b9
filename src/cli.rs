//! The `nexus` command. Each subcommand reads settings and reaches the database the same way
//! (`--config`, `--data-dir`, `DATABASE_URL`), then hands over to `startup`, `demo` or a repository.
//! `demo` and `sandbox` exist only with the `demo` feature (on by default), the one path into the
//! `nexus-sandbox` crate; production builds leave both out.

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use uuid::Uuid;

use crate::{
    auth::{KeySpec, Scope, Scopes, Tenants, create_api_key_with},
    config::Settings,
    startup::{Application, open_database},
    vault::CredentialVault,
};

/// Where the demo and the default SQLite database keep their files.
const DEFAULT_DATA_DIR: &str = ".nexus";

#[derive(Parser)]
#[command(
    name = "nexus",
    version,
    about = "One GraphQL endpoint over your revenue team's SaaS tools"
)]
struct Cli {
    /// A TOML settings file; NEXUS_SECTION__KEY variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The data folder (embedded SQLite, demo files); default `.nexus`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway from the settings.
    Serve,
    /// Start a ready-to-try gateway on SQLite with a demo project and API key.
    #[cfg(feature = "demo")]
    Demo {
        #[arg(long, default_value_t = 4000)]
        port: u16,
        /// The sandbox's port (default: a free one).
        #[arg(long, default_value_t = 0)]
        sandbox_port: u16,
        /// Use a sandbox already running (`nexus sandbox`) at this origin instead.
        #[arg(long, conflicts_with = "sandbox_port")]
        sandbox_url: Option<String>,
        /// Do not connect the simulated providers (leave it to the playground).
        #[arg(long)]
        no_connect: bool,
    },
    /// Serve the provider sandbox alone (every simulated provider under its prefix).
    #[cfg(feature = "demo")]
    Sandbox {
        #[arg(long, default_value_t = 4001)]
        port: u16,
    },
    /// Print the GraphQL schema (SDL).
    Schema {
        /// The Apollo Federation v2 subgraph SDL (`_service { sdl }`) instead of the plain one.
        #[arg(long)]
        federation: bool,
    },
    /// Apply the database migrations.
    Migrate,
    /// Run one incremental sync pass over every CRM, mailbox, calendar and chat connection (or
    /// one provider's, or one project's), appending what changed to the change log; for Slack,
    /// a pass of its paced `conversations.history` backfill.
    Sync {
        /// Only this provider (`salesforce`, `hubspot`, `gmail`, `google_calendar`, `outlook`,
        /// `slack`, `teams`).
        #[arg(long)]
        provider: Option<String>,
        /// Only this project, by name.
        #[arg(long)]
        project: Option<String>,
        /// Also reconcile every CRM type now (list every id; records gone become Deleted
        /// changes), however recent the last reconciliation.
        #[arg(long)]
        full: bool,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key (the project and user are created if missing); prints the key alone.
    Create {
        #[arg(long)]
        project: String,
        #[arg(long)]
        user: String,
        /// A scope the key gets (repeat for more): read, write, changes:project, audit,
        /// passthrough:read, passthrough:write. Default: read and write.
        #[arg(long = "scope", value_name = "SCOPE", value_parser = clap::value_parser!(Scope))]
        scopes: Vec<Scope>,
        /// A name for the key, shown by `keys list`.
        #[arg(long)]
        label: Option<String>,
        /// How long the key lives (`30d`, `12h`, `1w 2d`); it never expires without.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// List keys (never the keys themselves), with their scopes, label, expiry and last use.
    List,
    /// Revoke a key by id.
    Revoke { id: Uuid },
    /// Re-encrypt every stored token, then every webhook endpoint's signing secret, with the
    /// current encryption key (and format); earlier keys go in `vault.previous_keys`. Safe to
    /// interrupt and run again; the gateway may serve.
    RotateEncryption {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u64,
        /// Pause between batches, in milliseconds, to leave the database to the gateway.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
    },
}

/// A failed command: its message goes to stderr, and the process exits with 1.
type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> CliResult {
    let quiet = matches!(cli.command, Command::Schema { .. } | Command::Keys { .. });
    let level = if quiet { "warn" } else { "info" };
    match cli.command {
        Command::Schema { federation } => {
            let sdl = if federation {
                crate::graphql::federation_sdl()
            } else {
                crate::graphql::sdl()
            };
            print!("{sdl}");
            return Ok(());
        }
        #[cfg(feature = "demo")]
        Command::Sandbox { port } => {
            crate::telemetry::init_logging(level, &Default::default(), &Default::default())?;
            let sandbox = nexus_sandbox::start(([127, 0, 0, 1], port).into()).await?;
            println!("Nexus sandbox on {}", sandbox.origin());
            shutdown_signal().await;
            return Ok(());
        }
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref())?;
    crate::telemetry::init_logging(level, &settings.log, &settings.telemetry)?;
    let data_dir = cli
        .data_dir
        .or_else(|| settings.database.data_dir.clone())
        .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let result = run_command(cli.command, settings, data_dir).await;
    // The spans not exported yet go out before the process ends (`telemetry.otlp_endpoint`).
    crate::telemetry::traces::flush().await;
    result
}

/// The command, once settings and logging are in place.
async fn run_command(command: Command, settings: Settings, data_dir: PathBuf) -> CliResult {
    match command {
        Command::Schema { .. } => unreachable!("handled above"),
        #[cfg(feature = "demo")]
        Command::Sandbox { .. } => unreachable!("handled above"),
        Command::Serve => {
            let app = Application::build(&settings, &data_dir).await?;
            tracing::info!(addr = %app.local_addr(), "serving");
            app.run_until_stopped(shutdown_signal()).await?;
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            port,
            sandbox_port,
            sandbox_url,
            no_connect,
        } => {
            let options = crate::demo::DemoOptions {
                port,
                sandbox_port,
                sandbox_url,
                no_connect,
            };
            let mut settings = settings;
            crate::demo::run(&mut settings, &data_dir, options).await?
        }
        Command::Sync {
            provider,
            project,
            full,
        } => {
            #[cfg(feature = "demo")]
            let settings = demo_folder(settings, &data_dir).await?;
            let db = open_database(&settings, &data_dir).await?;
            let result = sync(&settings, db.clone(), provider, project, full).await;
            db.close().await?;
            result?;
        }
        Command::Migrate => {
            open_database(&settings, &data_dir).await?.close().await?;
            eprintln!("migrations applied");
        }
        Command::Keys {
            action:
                KeysCommand::RotateEncryption {
                    batch_size,
                    pause_ms,
                },
        } => {
            let vault = crate::startup::vault(&settings).await?;
            let db = open_database(&settings, &data_dir).await?;
            let pause = Duration::from_millis(pause_ms);
            let credentials = CredentialVault::new(db.clone(), vault.clone());
            let tokens = credentials
                .rotate(batch_size, pause, |r| {
                    eprintln!("examined {} rows, re-encrypted {}", r.examined, r.rotated);
                })
                .await;
            // Then the webhook endpoints' signing secrets, sealed by the same vault.
            let reports = match tokens {
                Ok(report) => {
                    crate::changes::outbound::reseal_secrets(&db, &vault, batch_size, pause, |r| {
                        eprintln!(
                            "webhook endpoints: examined {}, re-encrypted {}",
                            r.examined, r.rotated
                        );
                    })
                    .await
                    .map(|endpoints| (report, endpoints))
                }
                Err(e) => Err(e),
            };
            db.close().await?;
            let (report, endpoints) = reports?;
            eprintln!(
                "done: {} rows examined, {} re-encrypted, {} changed meanwhile, {} unreadable",
                report.examined, report.rotated, report.changed_meanwhile, report.unreadable
            );
            eprintln!(
                "webhook endpoint secrets: {} examined, {} re-encrypted, {} changed meanwhile, {} unreadable",
                endpoints.examined,
                endpoints.rotated,
                endpoints.changed_meanwhile,
                endpoints.unreadable
            );
            if report.unreadable > 0 {
                return Err(format!(
                    "{} rows do not open with any configured key; their connections need re-authorization",
                    report.unreadable
                )
                .into());
            }
            if endpoints.unreadable > 0 {
                return Err(format!(
                    "{} webhook endpoints' secrets do not open with any configured key; rotate their secrets (`rotateWebhookEndpointSecret`)",
                    endpoints.unreadable
                )
                .into());
            }
        }
        Command::Keys { action } => {
            let db = open_database(&settings, &data_dir).await?;
            let tenants = Tenants::new(db.clone());
            let result = keys(&tenants, action).await;
            db.close().await?;
            result?;
        }
    }
    Ok(())
}

/// The settings for a command on `data_dir`, with the demo's setup when the folder is a demo's
/// (`demo::adopt`). The demo's sandbox runs inside `nexus demo` (or `nexus sandbox`): without it,
/// the demo's connections have nothing to read, and the command stops here.
#[cfg(feature = "demo")]
async fn demo_folder(mut settings: Settings, data_dir: &std::path::Path) -> CliResult<Settings> {
    let Some(sandbox) = crate::demo::adopt(&mut settings, data_dir) else {
        return Ok(settings);
    };
    let answered = reqwest::Client::new()
        .get(format!("{sandbox}/_sandbox/counters"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if answered {
        eprintln!(
            "{} is a demo's data folder: syncing from its sandbox at {sandbox}",
            data_dir.display()
        );
        return Ok(settings);
    }
    Err(format!(
        "the demo's sandbox at {sandbox} does not answer: start the demo on this folder \
         (nexus demo --data-dir {}) and run the sync while it runs",
        data_dir.display()
    )
    .into())
}

/// `nexus sync`: one pass per connection and type. A line per connection names the types it
/// syncs; on a terminal a progress bar (indicatif) shows the type being synced and its records
/// read so far; elsewhere (pipes, tests) only a plain line per pass is written, on stderr.
async fn sync(
    settings: &Settings,
    db: sea_orm::DatabaseConnection,
    provider: Option<String>,
    project: Option<String>,
    full: bool,
) -> CliResult {
    use std::io::IsTerminal;

    let provider = provider
        .map(|p| p.parse::<crate::providers::Provider>())
        .transpose()
        .map_err(|e| format!("--provider: {e}"))?;
    let project = match project {
        Some(name) => Some(
            crate::auth::Tenants::new(db.clone())
                .project_by_name(&name)
                .await?
                .ok_or_else(|| format!("--project: no project is named {name}"))?
                .id,
        ),
        None => None,
    };
    let syncer = crate::startup::syncer(settings, db).await?.full(full);
    if let Some(provider) = provider
        && syncer.kinds(provider).is_empty()
    {
        eprintln!(
            "{provider}: nothing to sync: its changes arrive through its webhook \
             (/webhooks/{provider}), not by polling"
        );
        return Ok(());
    }
    let targets = syncer.targets(provider, project).await?;
    if targets.is_empty() {
        match provider {
            Some(provider) => eprintln!("no {provider} connection to sync"),
            None => eprintln!("no connection to sync"),
        }
    }
    let terminal = std::io::stderr().is_terminal();
    let mut failed = 0;
    for target in targets {
        let slug = target.provider.slug();
        let what = format!(
            "{slug}: syncing {}",
            syncer.kinds(target.provider).join(", ")
        );
        let bar = if terminal {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {prefix} {msg}: {pos} records read ({per_sec}, {elapsed})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_prefix(slug);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let say = |line: String| {
            if terminal {
                bar.println(line);
            } else {
                eprintln!("{line}");
            }
        };
        say(what);
        let progress = |resource: &str, seen: usize| {
            bar.set_message(resource.to_owned());
            bar.set_position(seen as u64);
        };
        for report in syncer.connection(target, &progress).await {
            match report {
                Ok(r) => {
                    say(format!(
                        "{slug} {}: {} records read, {} changes appended",
                        r.resource, r.seen, r.changes
                    ));
                    if r.reconciled {
                        say(format!(
                            "{slug} {}: reconciled, {} deleted",
                            r.resource, r.deleted
                        ));
                    }
                    if r.overtaken {
                        say(format!(
                            "{slug} {}: another pass (a running gateway) or a delivered deletion got ahead; this one stopped",
                            r.resource
                        ));
                    }
                }
                Err(e) => {
                    failed += 1;
                    say(format!("{slug}: {e}"));
                }
            }
        }
        bar.finish_and_clear();
    }
    if failed > 0 {
        return Err(format!("{failed} sync passes failed").into());
    }
    Ok(())
}

async fn keys(tenants: &Tenants, action: KeysCommand) -> CliResult {
    match action {
        KeysCommand::Create {
            project,
            user,
            scopes,
            label,
            expires_in,
        } => {
            crate::graphql::validate_email(&user).map_err(|m| format!("--user: {m}"))?;
            if project.trim().is_empty() {
                return Err("--project must not be empty".into());
            }
            let label = label.map(|l| l.trim().to_owned());
            if let Some(label) = &label
                && (label.is_empty() || label.len() > 200 || label.chars().any(char::is_control))
            {
                return Err(
                    "--label must be 1 to 200 characters, without tabs or line breaks".into(),
                );
            }
            let expires_at = expires_in
                .map(|d| {
                    chrono::Duration::from_std(d)
                        .ok()
                        .filter(|d| *d > chrono::Duration::zero())
                        .and_then(|d| chrono::Utc::now().checked_add_signed(d))
                        .ok_or("--expires-in must be a positive duration of sane length")
                })
                .transpose()?;
            let spec = KeySpec {
                scopes: if scopes.is_empty() {
                    Scopes::DEFAULT
                } else {
                    scopes.into_iter().collect()
                },
                label,
                expires_at,
            };
            println!(
                "{}",
                create_api_key_with(tenants, project.trim(), &user, &spec).await?
            );
        }
        KeysCommand::List => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "ID\tPREFIX\tUSER\tPROJECT\tSCOPES\tLABEL\tCREATED\tEXPIRES\tLAST USED\tREVOKED"
            )?;
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
            };
            for k in tenants.list_keys().await? {
                writeln!(
                    out,
                    "{}\t{}…\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.prefix,
                    k.user_email,
                    k.project_name,
                    k.scopes,
                    k.label.as_deref().unwrap_or("-"),
                    k.created_at.to_rfc3339(),
                    time(k.expires_at),
                    time(k.last_used_at),
                    time(k.revoked_at),
                )?;
            }
        }
        KeysCommand::Revoke { id } => {
            if !tenants.revoke_key(id).await? {
                return Err(format!("no live API key has id {id}").into());
            }
            eprintln!("revoked {id}");
        }
        KeysCommand::RotateEncryption { .. } => unreachable!("handled by run"),
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
