//! The `turnout` command line: serve, migrate, and the operator's plan, key
//! and admin-token commands. Everything here parses arguments and prints;
//! the work is done by the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

/// jemalloc: hyper gives every connection an 8 KiB read and an 8 KiB write
/// buffer; jemalloc places them page-aligned, so an idle keep-alive
/// connection holds only the pages it touched (glibc's headers and free
/// lists touched about two pages more per connection).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use serde_json::{Map, Value, json};
use turnout_core::{Clock, SystemClock};
use turnout_gateway::admin::{Admin, AdminError, views};
use turnout_gateway::app;
use turnout_gateway::config::Config;
use turnout_gateway::keys::{KeyStatus, store as key_store};
use turnout_gateway::search_cli;
use turnout_search::import::Format;
use turnout_search::store::RecordKind;

#[derive(Parser)]
#[command(
    name = "turnout",
    version,
    about = "The mobile backend a campaign runs: API gateway, outreach, search."
)]
struct Cli {
    /// The TOML config file; without one, embedded defaults in ./turnout-data.
    #[arg(long, global = true, env = "TURNOUT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve,
    /// Create or update the store's tables, then exit.
    Migrate,
    /// Plans: rate, burst, quotas and scopes shared by keys.
    #[command(subcommand)]
    Plans(PlanCommand),
    /// API keys.
    #[command(subcommand)]
    Keys(KeyCommand),
    /// The admin API's bearer token.
    #[command(subcommand, name = "admin-token")]
    AdminToken(AdminTokenCommand),
    /// Import people or events from an NDJSON or CSV file (matched on
    /// `identifiers`: importing again updates, never duplicates).
    Import {
        #[arg(value_enum)]
        what: ImportWhat,
        file: PathBuf,
        /// ndjson or csv; by default from the file's extension.
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
    },
    /// Send queued messages, beside or instead of the worker inside
    /// `serve` (stops on SIGTERM, leaving unfinished leases to expire).
    Worker,
    /// Ask every serving instance to rebuild its search index from the
    /// store (searches keep being served from the old one meanwhile).
    Reindex,
    /// Print the OpenAPI document (the one served at /openapi.json), or
    /// write it to a file: `turnout openapi --out openapi/openapi.json`
    /// regenerates the checked-in copy.
    Openapi {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fill the store with generated people and events near real ZIP
    /// codes, and issue a key to try them with.
    Demo {
        #[arg(long, default_value_t = 2000)]
        people: u64,
        #[arg(long, default_value_t = 500)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportWhat {
    People,
    Events,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportFormat {
    Ndjson,
    Csv,
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Create a plan.
    Create(PlanArgs),
    /// List plans.
    List,
}

#[derive(Args)]
struct PlanArgs {
    #[arg(long)]
    name: String,
    /// Requests per second (sustained).
    #[arg(long)]
    rate: f64,
    /// Requests allowed at once.
    #[arg(long)]
    burst: u64,
    #[arg(long)]
    quota_per_day: Option<u64>,
    #[arg(long)]
    quota_per_month: Option<u64>,
    /// IANA zone in which quota days and months roll over (default UTC).
    #[arg(long)]
    timezone: Option<String>,
    /// Comma-separated scopes, e.g. events,events:private.
    #[arg(long, value_delimiter = ',')]
    scopes: Vec<String>,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue a key; its secret is printed this once.
    Create {
        #[arg(long)]
        name: String,
        /// Plan name or id.
        #[arg(long)]
        plan: String,
        /// confidential (server-side, the default) or public (inside an app).
        #[arg(long, value_name = "TYPE", default_value = "confidential")]
        r#type: String,
        /// Comma-separated scopes replacing the plan's.
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
    },
    /// List keys (never their secrets).
    List,
    /// Refuse a key's requests until it is enabled again.
    Disable { id: String },
    /// Accept a disabled key again.
    Enable { id: String },
    /// Refuse a key's requests for good.
    Revoke { id: String },
    /// Publish a new key for signing user tokens; it starts signing after
    /// `auth.rotation_delay_secs`, and the old one keeps verifying until
    /// its tokens expire.
    RotateSigning,
}

#[derive(Subcommand)]
enum AdminTokenCommand {
    /// Replace the admin token; the new one is printed this once.
    Rotate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("turnout: {e}");
            return ExitCode::from(2);
        }
    };
    turnout_gateway::telemetry::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("turnout: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn print(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON"));
}

fn admin_error(err: AdminError) -> anyhow::Error {
    match err {
        AdminError::Validation(errors) => anyhow::anyhow!(
            "invalid input: {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    match command {
        Command::Serve => serve(config, clock).await,
        Command::Openapi { out } => {
            let text = turnout_gateway::openapi::document_json();
            match out {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Migrate => {
            let store = app::open_store(&config).await?;
            println!("the {} store is up to date", store.dialect().name());
            Ok(())
        }
        Command::Plans(cmd) => {
            let admin = cli_admin(&config, clock).await?;
            match cmd {
                PlanCommand::Create(a) => {
                    let mut input = Map::new();
                    input.insert("name".into(), json!(a.name));
                    input.insert("rate_per_second".into(), json!(a.rate));
                    input.insert("burst".into(), json!(a.burst));
                    input.insert("scopes".into(), json!(a.scopes));
                    if let Some(q) = a.quota_per_day {
                        input.insert("quota_per_day".into(), json!(q));
                    }
                    if let Some(q) = a.quota_per_month {
                        input.insert("quota_per_month".into(), json!(q));
                    }
                    if let Some(tz) = a.timezone {
                        input.insert("timezone".into(), json!(tz));
                    }
                    let plan = admin
                        .create_plan(&actor(), &input)
                        .await
                        .map_err(admin_error)?;
                    print(&views::plan(&plan));
                }
                PlanCommand::List => {
                    let (plans, _) = key_store::list_plans(&admin.store, 0, i64::MAX).await?;
                    print(&Value::Array(plans.iter().map(views::plan).collect()));
                }
            }
            Ok(())
        }
        Command::Keys(cmd) => {
            let admin = cli_admin(&config, clock).await?;
            match cmd {
                KeyCommand::Create {
                    name,
                    plan,
                    r#type,
                    scopes,
                } => {
                    let mut input = Map::new();
                    input.insert("name".into(), json!(name));
                    input.insert("plan".into(), json!(plan));
                    input.insert("type".into(), json!(r#type));
                    if let Some(s) = scopes {
                        input.insert("scopes".into(), json!(s));
                    }
                    let created = admin
                        .create_key(&actor(), &input)
                        .await
                        .map_err(admin_error)?;
                    let mut out = views::key(&created.key, &created.plan);
                    out["key"] = json!(created.secret);
                    print(&out);
                    eprintln!("The key is shown this once; only a keyed hash of it is stored.");
                }
                KeyCommand::List => {
                    let (keys, _) = key_store::list_keys(&admin.store, 0, i64::MAX).await?;
                    let mut out = Vec::with_capacity(keys.len());
                    for key in &keys {
                        let (_, plan) = admin.key(&key.id).await.map_err(admin_error)?;
                        out.push(views::key(key, &plan));
                    }
                    print(&Value::Array(out));
                }
                KeyCommand::Disable { id } => {
                    let (k, p) = admin
                        .set_key_status(&actor(), &id, KeyStatus::Disabled)
                        .await
                        .map_err(admin_error)?;
                    print(&views::key(&k, &p));
                }
                KeyCommand::Enable { id } => {
                    let (k, p) = admin
                        .set_key_status(&actor(), &id, KeyStatus::Active)
                        .await
                        .map_err(admin_error)?;
                    print(&views::key(&k, &p));
                }
                KeyCommand::Revoke { id } => {
                    let (k, p) = admin.revoke_key(&actor(), &id).await.map_err(admin_error)?;
                    print(&views::key(&k, &p));
                }
                KeyCommand::RotateSigning => {
                    let now = admin.clock.now().timestamp();
                    let delay = config.auth.rotation_delay_secs;
                    let kid =
                        turnout_gateway::auth::signing::rotate(&admin.store, now, delay as i64)
                            .await?;
                    turnout_gateway::keys::store::record_audit(
                        &admin.store,
                        &turnout_gateway::keys::store::AuditEntry {
                            actor: actor(),
                            action: "signing_key.rotate".into(),
                            target: format!("signing_key:{kid}"),
                            before: None,
                            after: Some(json!({"kid": kid})),
                        },
                        now,
                    )
                    .await?;
                    print(&json!({"kid": kid, "signs_in_secs": delay}));
                }
            }
            Ok(())
        }
        Command::Import { what, file, format } => {
            let kind = match what {
                ImportWhat::People => RecordKind::Person,
                ImportWhat::Events => RecordKind::Event,
            };
            let format = format.map(|f| match f {
                ImportFormat::Ndjson => Format::Ndjson,
                ImportFormat::Csv => Format::Csv,
            });
            let started = std::time::Instant::now();
            let summary = search_cli::import_file(&config, clock, kind, &file, format).await?;
            for r in summary.rejected.iter().take(50) {
                eprintln!("line {}: {}", r.line, r.reason);
            }
            if summary.rejected.len() > 50 {
                eprintln!(
                    "... and {} more rejected lines",
                    summary.rejected.len() - 50
                );
            }
            eprintln!(
                "{} created, {} updated, {} unchanged, {} rejected in {:.1} s",
                summary.created,
                summary.updated,
                summary.unchanged,
                summary.rejected.len(),
                started.elapsed().as_secs_f64()
            );
            print(&serde_json::to_value(&summary)?);
            Ok(())
        }
        Command::Worker => {
            let store = app::open_store(&config).await?;
            let codes = app::code_key(&store).await?;
            let worker = app::outreach_worker(&config, store, clock, codes).await?;
            tracing::info!(owner = %worker.owner, "outreach worker started");
            worker
                .run(
                    std::time::Duration::from_millis(500),
                    Arc::new(tokio::sync::Notify::new()),
                    wait_for_signal(),
                )
                .await;
            Ok(())
        }
        Command::Reindex => {
            let generation = search_cli::reindex(&config).await?;
            println!(
                "reindex {generation} requested: every running `turnout serve` rebuilds its index now (or at its next start)"
            );
            Ok(())
        }
        Command::Demo {
            people,
            events,
            seed,
        } => {
            let (p, e) =
                search_cli::demo(&config, Arc::clone(&clock), people, events, seed).await?;
            println!(
                "people: {} created, {} updated, {} unchanged; events: {} created, {} updated, {} unchanged",
                p.created, p.updated, p.unchanged, e.created, e.updated, e.unchanged
            );
            let admin = cli_admin(&config, clock).await?;
            let (plans, _) = key_store::list_plans(&admin.store, 0, i64::MAX).await?;
            if !plans.iter().any(|p| p.spec.name == "demo") {
                admin
                    .create_plan(&actor(), &search_cli::demo_plan())
                    .await
                    .map_err(admin_error)?;
            }
            let mut input = Map::new();
            input.insert("name".into(), json!("demo"));
            input.insert("plan".into(), json!("demo"));
            let created = admin
                .create_key(&actor(), &input)
                .await
                .map_err(admin_error)?;
            println!(
                "A key on the demo plan (shown this once): {key}\n\
                 With `turnout serve` running, try:\n  \
                 curl -H 'X-Api-Key: {key}' 'http://{listen}/v1/events?zipcode=19107&max_dist=10&timeslot_start=gte_now'\n  \
                 curl -H 'X-Api-Key: {key}' 'http://{listen}/v1/people?zipcode=19107&max_dist=5&skills=driving&facets=languages_spoken'",
                key = created.secret,
                listen = config.listen
            );
            Ok(())
        }
        Command::AdminToken(AdminTokenCommand::Rotate) => {
            let admin = cli_admin(&config, clock).await?;
            let token = admin
                .rotate_admin_token(&actor())
                .await
                .map_err(admin_error)?;
            println!("{token}");
            eprintln!(
                "The new admin token is shown this once; the old one stops working within a second."
            );
            if config.admin_token.is_some() {
                eprintln!(
                    "Note: admin_token is set in the configuration, and a configured token wins over the stored one."
                );
            }
            Ok(())
        }
    }
}

async fn cli_admin(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Admin> {
    let store = app::open_store(config).await?;
    app::admin_for(config, store, clock).await
}

async fn serve(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let on_sqlite = config.store.url.is_none();
    let running = app::start(config, clock).await?;
    let base = format!("http://{}", running.addr);
    if let Some(token) = &running.generated_admin_token {
        println!(
            "Turnout is listening on {base}{}.",
            if on_sqlite {
                format!(" (data in {})", data_dir.display())
            } else {
                String::new()
            }
        );
        println!();
        println!("An admin token was generated. It is shown this once, so keep it:");
        println!();
        println!("    {token}");
        println!();
        println!("Next, create a plan and an API key:");
        println!();
        println!("    export TURNOUT_ADMIN_TOKEN={token}");
        println!(
            "    curl -s -X POST {base}/admin/v1/plans -H \"Authorization: Bearer $TURNOUT_ADMIN_TOKEN\" -H 'Content-Type: application/json' \\\n         -d '{{\"name\": \"starter\", \"rate_per_second\": 10, \"burst\": 20, \"scopes\": [\"events\"]}}'"
        );
        println!(
            "    curl -s -X POST {base}/admin/v1/keys -H \"Authorization: Bearer $TURNOUT_ADMIN_TOKEN\" -H 'Content-Type: application/json' \\\n         -d '{{\"name\": \"my-app\", \"plan\": \"starter\"}}'"
        );
        println!();
    }
    let trigger = running.trigger();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = trigger.send(true);
    });
    running.wait().await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
