//! Wiring: from a [`Config`] to a listening gateway with its background
//! tasks, and back down again on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use turnout_core::{Clock, Store};

use crate::admin::{self, Admin, AdminState};
use crate::config::Config;
use crate::config::{LimiterBackend, RedisClock};
use crate::edge::Gateway;
use crate::keys::Registry;
use crate::keys::secret::KeyHasher;
use crate::keys::sync::Follower;
use crate::limiter::fallback::FallbackLimiter;
use crate::limiter::instances::Heartbeat;
use crate::limiter::memory::MemoryLimiter;
use crate::limiter::quota_store;
use crate::limiter::redis::{RedisLimiter, RedisTime};
use crate::proxy::Proxy;
use crate::proxy::upstream::Upstream;
use crate::routes::RouteTable;
use crate::usage::UsageRecorder;
use std::sync::atomic::AtomicU32;

/// The gateway's tables.
pub const MIGRATIONS: &[turnout_core::store::Migration] = &[
    turnout_core::store::Migration {
        version: 1,
        name: "gateway",
        sqlite: include_str!("../migrations/sqlite/0001_gateway.sql"),
        postgres: include_str!("../migrations/postgres/0001_gateway.sql"),
    },
    turnout_core::store::Migration {
        version: 2,
        name: "idempotency",
        sqlite: include_str!("../migrations/0002_idempotency.sql"),
        postgres: include_str!("../migrations/0002_idempotency.sql"),
    },
    turnout_core::store::Migration {
        version: 3,
        name: "auth",
        sqlite: include_str!("../migrations/0003_auth.sql"),
        postgres: include_str!("../migrations/0003_auth.sql"),
    },
    turnout_core::store::Migration {
        version: 4,
        name: "instances",
        sqlite: include_str!("../migrations/0004_instances.sql"),
        postgres: include_str!("../migrations/0004_instances.sql"),
    },
];

/// Opens the configured store and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::open(
        config.store.url.as_deref(),
        &config.data_dir,
        config.store.max_connections,
    )
    .await
    .context("opening the store")?;
    store
        .migrate("gateway", MIGRATIONS)
        .await
        .context("migrating the store")?;
    store
        .migrate("search", turnout_search::store::MIGRATIONS)
        .await
        .context("migrating the store")?;
    store
        .migrate("outreach", turnout_outreach::queue::MIGRATIONS)
        .await
        .context("migrating the store")?;
    Ok(store)
}

/// The deployment's sign-in code key (made on first start): the worker
/// fills codes in with it and sign-in checks them.
pub async fn code_key(store: &Store) -> anyhow::Result<Arc<turnout_outreach::codes::CodeKey>> {
    Ok(Arc::new(
        turnout_outreach::codes::CodeKey::load_or_create(store)
            .await
            .context("loading the sign-in code key")?,
    ))
}

/// A worker sending queued messages through the configured providers, for
/// `serve` and `turnout worker` alike.
pub async fn outreach_worker(
    config: &Config,
    store: Store,
    clock: Arc<dyn Clock>,
    codes: Arc<turnout_outreach::codes::CodeKey>,
) -> anyhow::Result<turnout_outreach::worker::Worker> {
    let o = &config.outreach;
    let callback = public_base(config).map(|b| format!("{b}/webhooks/twilio/status"));
    let providers = turnout_outreach::providers::build::build(o, &config.data_dir, callback)
        .await
        .context("building the outreach providers")?;
    let mut throttles = Vec::new();
    for (channel, rate) in [
        (turnout_outreach::queue::Channel::Sms, o.sms.max_per_second),
        (
            turnout_outreach::queue::Channel::Email,
            o.email.max_per_second,
        ),
    ] {
        if let Some(rate) = rate {
            let throttle = turnout_outreach::throttle::Throttle::second_burst(
                store.clone(),
                channel.as_str(),
                rate,
            );
            throttles.push((channel, Arc::new(throttle)));
        }
    }
    Ok(turnout_outreach::worker::Worker {
        queue: turnout_outreach::queue::Queue::new(store.clone()),
        sms: providers.sms,
        email: providers.email,
        sms_failover: providers.sms_failover,
        reaped_at: Default::default(),
        breakers: Arc::new(turnout_outreach::breaker::Breakers::new(
            o.worker.breaker_failures,
            Duration::from_secs(o.worker.breaker_open_secs),
        )),
        clock,
        optouts: turnout_outreach::consent::optouts::OptOuts::new(store),
        throttles,
        owner: format!("{}:{}", std::process::id(), turnout_core::token::lower36(8)),
        codes: Some(codes),
        settings: turnout_outreach::worker::Settings {
            batch: o.worker.batch,
            lease: Duration::from_secs(o.worker.lease_secs),
            backoff: turnout_outreach::worker::Backoff {
                max_attempts: o.worker.max_attempts,
                ..Default::default()
            },
            ..Default::default()
        },
    })
}

/// Sign-in: signing keys loaded (the first one made on first start), and
/// everything the endpoints need. Returns the keys too, for the JWKS
/// route and the background reload.
#[allow(clippy::too_many_arguments)]
async fn sign_in(
    config: &Config,
    store: &Store,
    clock: &Arc<dyn Clock>,
    records: turnout_search::records::Records,
    engine: Arc<dyn turnout_search::engine::Engine>,
    public_url: &str,
    send_now: Arc<tokio::sync::Notify>,
    index_wake: Arc<tokio::sync::Notify>,
    codes: Arc<turnout_outreach::codes::CodeKey>,
) -> anyhow::Result<(crate::auth::Auth, Arc<crate::auth::signing::SigningKeys>)> {
    use crate::auth;
    let a = &config.auth;
    let keys = Arc::new(
        auth::signing::SigningKeys::open(
            store.clone(),
            clock.now().timestamp(),
            (a.access_ttl_secs + a.leeway_secs) as i64,
        )
        .await
        .context("loading the token signing keys")?,
    );
    let issuer = a.issuer.clone().unwrap_or_else(|| {
        if config.public_url.is_some() {
            public_url.to_string()
        } else {
            "turnout".into()
        }
    });
    let tokens = Arc::new(auth::tokens::Tokens::new(
        Arc::clone(&keys),
        Arc::clone(clock),
        issuer,
        a.audience.clone(),
        a.access_ttl_secs as i64,
        a.leeway_secs as i64,
    ));
    let log_provider = config.outreach.sms.provider
        == turnout_outreach::config::SmsProviderKind::Log
        || config.outreach.email.provider == turnout_outreach::config::EmailProviderKind::Log;
    let auth = auth::Auth {
        store: store.clone(),
        otp: auth::otp::Otp {
            store: store.clone(),
            codes,
            queue: turnout_outreach::queue::Queue::new(store.clone()),
            optouts: turnout_outreach::consent::optouts::OptOuts::new(store.clone()),
            countries: auth::destination::SmsCountries::parse(&a.otp.sms_countries)
                .map_err(anyhow::Error::msg)?,
            config: a.otp.clone(),
            clock: Arc::clone(clock),
            wake: send_now,
        },
        people: auth::people::People {
            store: store.clone(),
            records,
            engine,
        },
        tokens,
        refresh: auth::refresh::RefreshTokens {
            store: store.clone(),
            ttl_ms: (a.refresh_ttl_days * 86_400_000) as i64,
        },
        clock: Arc::clone(clock),
        outbox_dir: log_provider.then(|| config.data_dir.clone()),
        index_wake,
    };
    Ok((auth, keys))
}

/// `public_url` without a trailing slash, when configured.
fn public_base(config: &Config) -> Option<String> {
    config
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_string())
}

/// What the CLI and the server both need to change plans and keys.
pub async fn admin_for(
    config: &Config,
    store: Store,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Admin> {
    let secret =
        admin::service::key_hash_secret(&store, config.key_hash_secret.as_deref(), &*clock).await?;
    Ok(Admin {
        store,
        hasher: KeyHasher::new(&secret),
        clock,
    })
}

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    /// Set when this start generated the admin token (first start, none
    /// configured): the only time it is ever shown.
    pub generated_admin_token: Option<String>,
    pub store: Store,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, flushes counts.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops (after [`Running::trigger`] or a signal
    /// handler calls it).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    pub fn trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// What a caller may inject besides the config.
pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub observer: Option<crate::edge::DecisionObserver>,
}

pub async fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    start_with(
        config,
        Options {
            clock,
            observer: None,
        },
    )
    .await
}

pub async fn start_with(config: Config, options: Options) -> anyhow::Result<Running> {
    let Options { clock, observer } = options;
    let store = open_store(&config).await?;
    let admin = admin_for(&config, store.clone(), Arc::clone(&clock)).await?;
    let generated_admin_token = match &config.admin_token {
        Some(_) => None,
        None => admin.ensure_admin_token().await?,
    };

    let registry = Arc::new(Registry::new(admin.hasher.clone()));
    let mut follower = Follower::new(
        store.clone(),
        Arc::clone(&registry),
        config
            .admin_token
            .as_deref()
            .map(turnout_core::token::sha256_hex),
    );
    let announcements = config
        .ratelimit
        .redis_url
        .clone()
        .filter(|_| config.ratelimit.backend == LimiterBackend::Redis)
        .map(|url| (url, format!("{}key-changes", config.ratelimit.redis_prefix)));
    if let Some((url, channel)) = &announcements {
        follower = follower.with_announcer(
            crate::keys::announce::Announcer::new(url, channel.clone())
                .context("ratelimit.redis_url")?,
        );
    }
    let follower = Arc::new(follower);
    follower
        .catch_up()
        .await
        .context("loading keys and plans")?;

    let now_secs = clock.now().timestamp();
    let stored_counts = quota_store::load_recent(&store, now_secs, 40 * 86_400).await?;
    let limiters = Limiters::open(&config, store.clone(), stored_counts)?;
    let limiter = Arc::clone(&limiters.limiter);

    let workers = config
        .server
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (listeners, addr) = crate::server::bind(config.listen, workers)
        .with_context(|| format!("binding {}", config.listen))?;
    let instance = config.usage.instance.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "turnout".into());
        format!("{host}:{}:{}", addr.port(), turnout_core::token::lower36(4))
    });
    let usage = Arc::new(UsageRecorder::new(instance.clone()));

    let upstreams: Vec<Arc<Upstream>> = config
        .upstreams
        .iter()
        .map(|u| Upstream::new(u).map(Arc::new).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let routes = RouteTable::new(&config.routes, &upstreams);

    let search_store = turnout_search::store::SearchStore::new(store.clone());
    let index_dir = config
        .search
        .index_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("search"));
    let engine = open_engine(&config, &index_dir)?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let index_follower =
        turnout_search::changelog::Follower::new(search_store.clone(), Arc::clone(&engine));
    let search_api = Arc::new(turnout_search::http::SearchApi {
        records: turnout_search::records::Records::new(search_store, Arc::clone(&clock)),
        engine,
        wake: Arc::clone(&wake),
        applied: index_follower.applied(),
        visible_within: Duration::from_millis(config.search.visible_timeout_ms.unwrap_or(1000)),
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string(),
        clock: Arc::clone(&clock),
    });

    // Outreach: messages are queued in the store and sent by a worker in
    // this process (the `log` provider writes them to the data dir's
    // outbox; the other providers come with the outreach issue).
    let send_now = Arc::new(tokio::sync::Notify::new());
    let outreach_api = Arc::new(turnout_outreach::http::OutreachApi {
        queue: turnout_outreach::queue::Queue::new(store.clone()),
        records: search_api.records.clone(),
        engine: Arc::clone(&search_api.engine),
        optouts: turnout_outreach::consent::optouts::OptOuts::new(store.clone()),
        templates: turnout_outreach::templates::named::NamedTemplates::new(store.clone()),
        campaigns: turnout_outreach::campaigns::Campaigns::new(store.clone()),
        inbound: turnout_outreach::webhooks::inbound::InboundLog::new(store.clone()),
        unsubscribe: turnout_outreach::unsubscribe::tokens::Tokens::new(store.clone()),
        footer: config.outreach.footer.0.clone(),
        smart_encoding: config.outreach.sms.smart_encoding.0,
        public_url: search_api.public_url.clone(),
        clock: Arc::clone(&clock),
        wake: Arc::clone(&send_now),
    });
    let codes = code_key(&store).await?;
    let worker = outreach_worker(
        &config,
        store.clone(),
        Arc::clone(&clock),
        Arc::clone(&codes),
    )
    .await?;
    let (auth, signing_keys) = sign_in(
        &config,
        &store,
        &clock,
        search_api.records.clone(),
        Arc::clone(&search_api.engine),
        &search_api.public_url,
        Arc::clone(&send_now),
        Arc::clone(&search_api.wake),
        codes,
    )
    .await?;
    let tokens = Arc::clone(&auth.tokens);
    // Provider webhooks: no API key; each checks its provider's signature.
    let webhooks =
        turnout_outreach::webhooks::twilio::router(Arc::new(
            turnout_outreach::webhooks::twilio::TwilioWebhooks {
                auth_token: config
                    .outreach
                    .sms
                    .twilio
                    .as_ref()
                    .map(|t| t.auth_token.clone()),
                public_url: search_api.public_url.clone(),
                queue: turnout_outreach::queue::Queue::new(store.clone()),
                optouts: turnout_outreach::consent::optouts::OptOuts::new(store.clone()),
                inbound: turnout_outreach::webhooks::inbound::InboundLog::new(store.clone()),
                help_text: config.outreach.help_text.clone().unwrap_or_else(|| {
                    turnout_outreach::webhooks::twilio::DEFAULT_HELP.to_string()
                }),
                clock: Arc::clone(&clock),
            },
        ));

    let local = admin::router(AdminState {
        admin: admin.clone(),
        registry: Arc::clone(&registry),
        follower: Arc::clone(&follower),
        usage: Arc::clone(&usage),
        public_url: config.public_url.clone(),
        search: Arc::clone(&search_api),
    })
    .merge(webhooks)
    .merge(turnout_outreach::webhooks::ses::router(Arc::new(
        turnout_outreach::webhooks::ses::SesWebhooks {
            verifier: turnout_outreach::webhooks::sns_signature::Verifier::new(Arc::new(
                turnout_outreach::webhooks::sns_signature::HttpsFetcher::new()
                    .context("building the SNS certificate fetcher")?,
            )),
            topic_arns: config
                .outreach
                .email
                .ses
                .as_ref()
                .map(|s| s.topic_arns.clone())
                .unwrap_or_default(),
            queue: turnout_outreach::queue::Queue::new(store.clone()),
            optouts: turnout_outreach::consent::optouts::OptOuts::new(store.clone()),
            clock: Arc::clone(&clock),
        },
    )))
    .merge(turnout_outreach::unsubscribe::pages::router(Arc::new(
        turnout_outreach::unsubscribe::pages::Unsubscribe {
            tokens: turnout_outreach::unsubscribe::tokens::Tokens::new(store.clone()),
            optouts: turnout_outreach::consent::optouts::OptOuts::new(store.clone()),
            clock: Arc::clone(&clock),
        },
    )))
    .merge(crate::ops::router(
        store.clone(),
        Arc::clone(&search_api.engine),
        limiters.shared.clone(),
    ))
    .merge(crate::openapi::serve::router())
    .merge(crate::auth::http::jwks_router(
        Arc::clone(&signing_keys),
        Arc::clone(&clock),
    ))
    .fallback(|| async { turnout_core::Problem::not_found("no such endpoint") })
    .method_not_allowed_fallback(|| async { turnout_core::Problem::method_not_allowed() });

    let shared = Arc::new(crate::edge::Shared {
        registry: Arc::clone(&registry),
        routes,
        limiter: limiter.clone(),
        usage: Arc::clone(&usage),
        clock: Arc::clone(&clock),
        local,
        search: turnout_search::http::router(search_api),
        outreach: turnout_outreach::http::router(outreach_api),
        auth: crate::auth::http::router(Arc::new(auth)),
        tokens,
        store: store.clone(),
        control: tokio::runtime::Handle::current(),
        max_body_bytes: config.server.max_body_bytes,
        body_read_timeout: Duration::from_millis(config.server.body_read_timeout_ms),
        access_log: config.log.access,
        observer,
        counters: crate::edge::Counters::default(),
    });

    let reminders = if config.outreach.reminders.enabled {
        let r = &config.outreach.reminders;
        let (sms, email) = r.templates().context("outreach.reminders")?;
        Some(turnout_outreach::reminders::Reminders {
            queue: turnout_outreach::queue::Queue::new(store.clone()),
            optouts: turnout_outreach::consent::optouts::OptOuts::new(store.clone()),
            clock: Arc::clone(&clock),
            before: Duration::from_secs(r.before_minutes * 60),
            window: Default::default(),
            sms,
            email,
            smart_encoding: config.outreach.sms.smart_encoding.0,
        })
    } else {
        None
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut background = vec![
        tokio::spawn(
            worker.run(Duration::from_millis(500), Arc::clone(&send_now), {
                let mut stop = shutdown_rx.clone();
                async move {
                    let _ = stop.changed().await;
                }
            }),
        ),
        tokio::spawn(index_follower.run(wake, {
            let mut stop = shutdown_rx.clone();
            async move {
                let _ = stop.changed().await;
            }
        })),
        tokio::spawn(every(
            Duration::from_millis(config.auth.reload_ms.max(10)),
            shutdown_rx.clone(),
            {
                let keys = Arc::clone(&signing_keys);
                move || {
                    let keys = Arc::clone(&keys);
                    async move {
                        if let Err(err) = keys.reload().await {
                            tracing::warn!(error = %err, "reloading the signing keys failed");
                        }
                    }
                }
            },
        )),
        tokio::spawn(Arc::clone(&follower).run(
            Duration::from_millis(config.sync.poll_ms.max(10)),
            shutdown_rx.clone(),
        )),
        tokio::spawn(every(
            Duration::from_millis(config.usage.flush_ms.max(10)),
            shutdown_rx.clone(),
            {
                let (store, usage, clock) = (store.clone(), Arc::clone(&usage), Arc::clone(&clock));
                move || {
                    let (store, usage, clock) =
                        (store.clone(), Arc::clone(&usage), Arc::clone(&clock));
                    async move { crate::usage::flush(&store, &usage, &*clock, false).await }
                }
            },
        )),
        tokio::spawn(every(Duration::from_secs(3600), shutdown_rx.clone(), {
            let (store, clock) = (store.clone(), Arc::clone(&clock));
            move || {
                let (store, clock) = (store.clone(), Arc::clone(&clock));
                async move {
                    if let Err(err) =
                        quota_store::prune(&store, clock.now().timestamp(), 70 * 86_400).await
                    {
                        tracing::warn!(error = %err, "pruning old quota counts failed");
                    }
                    if let Err(err) =
                        crate::edge::idempotency::prune(&store, clock.now().timestamp()).await
                    {
                        tracing::warn!(error = %err, "pruning old idempotency keys failed");
                    }
                }
            }
        })),
    ];
    background.extend(limiters.spawn(&config, &instance, &clock, &shutdown_rx));
    if let Some((url, channel)) = announcements {
        background.push(tokio::spawn(crate::keys::announce::listen(
            Arc::clone(&follower),
            url,
            channel,
            shutdown_rx.clone(),
        )));
    }
    if let Some(reminders) = reminders {
        let interval = Duration::from_millis(config.outreach.reminders.interval_ms.max(10));
        let mut stop = shutdown_rx.clone();
        background.push(tokio::spawn(reminders.run(interval, async move {
            let _ = stop.changed().await;
        })));
    }

    let settings = crate::server::Settings {
        header_read_timeout: Duration::from_millis(config.server.header_read_timeout_ms),
        grace: Duration::from_millis(config.server.shutdown_grace_ms),
    };
    let make_gateway = {
        let (proxy_config, clock) = (config.proxy.clone(), Arc::clone(&clock));
        move || Gateway {
            shared: Arc::clone(&shared),
            proxy: Proxy::new(&proxy_config, Arc::clone(&clock)),
        }
    };
    let threads = crate::server::spawn_workers(listeners, make_gateway, settings, shutdown_rx)?;
    let task = {
        let (store, memory, usage, clock) = (
            store.clone(),
            limiters.memory.clone(),
            Arc::clone(&usage),
            Arc::clone(&clock),
        );
        tokio::spawn(async move {
            let _ = tokio::task::spawn_blocking(move || {
                for t in threads {
                    let _ = t.join();
                }
            })
            .await;
            tracing::info!("all connections finished");
            for task in background {
                let _ = task.await;
            }
            // Last counts of this process: nothing admitted goes uncounted.
            if let Some(memory) = memory {
                flush_quotas(store.clone(), memory, Arc::clone(&clock)).await;
            }
            crate::usage::flush(&store, &usage, &*clock, true).await;
            tracing::info!("stopped");
        })
    };
    tracing::info!(%addr, workers, keys = registry.key_count(), store = store.dialect().name(), "turnout is listening");
    Ok(Running {
        addr,
        generated_admin_token,
        store,
        shutdown: shutdown_tx,
        task,
    })
}

/// The configured search engine. Elasticsearch is not contacted here: a
/// gateway starts while it is down, and search answers 503 until it is up.
fn open_engine(
    config: &Config,
    index_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn turnout_search::engine::Engine>> {
    use crate::config::SearchEngineKind;
    Ok(match config.search.engine {
        SearchEngineKind::Tantivy => Arc::new(
            turnout_search::engine::tantivy::TantivyEngine::open(index_dir)
                .with_context(|| format!("opening the search index in {}", index_dir.display()))?,
        ),
        SearchEngineKind::Elasticsearch => Arc::new(
            turnout_search::engine::elasticsearch::ElasticsearchEngine::new(
                config.search.url.as_deref().context("search.url")?,
                config.search.index.as_deref().unwrap_or("turnout-records"),
                Duration::from_millis(config.search.timeout_ms.unwrap_or(10_000)),
            )
            .context("search.url")?,
        ),
    })
}

/// The limiter this instance decides with, and the handles its
/// background jobs need.
struct Limiters {
    limiter: Arc<dyn crate::limiter::Limiter>,
    /// The embedded one: its quota counts are flushed to the store.
    memory: Option<Arc<MemoryLimiter>>,
    /// The Redis one: probed while down, reported by `/readyz`.
    shared: Option<Arc<FallbackLimiter>>,
    instances: Arc<AtomicU32>,
    store: Store,
}

impl Limiters {
    fn open(
        config: &Config,
        store: Store,
        stored_counts: Vec<crate::limiter::memory::QuotaCount>,
    ) -> anyhow::Result<Self> {
        let instances = Arc::new(AtomicU32::new(config.ratelimit.instances.unwrap_or(1)));
        Ok(match config.ratelimit.backend {
            LimiterBackend::Memory => {
                let memory = Arc::new(MemoryLimiter::new(stored_counts));
                Self {
                    limiter: memory.clone(),
                    memory: Some(memory),
                    shared: None,
                    instances,
                    store,
                }
            }
            LimiterBackend::Redis => {
                let r = &config.ratelimit;
                let url = r.redis_url.as_deref().context("ratelimit.redis_url")?;
                let time = match r.redis_clock {
                    RedisClock::Redis => RedisTime::Server,
                    RedisClock::Gateway => RedisTime::Caller,
                };
                let redis = RedisLimiter::new(
                    url,
                    &r.redis_prefix,
                    time,
                    Duration::from_millis(r.redis_timeout_ms.max(1)),
                )
                .context("ratelimit.redis_url")?;
                let shared = Arc::new(FallbackLimiter::new(redis, Arc::clone(&instances)));
                Self {
                    limiter: shared.clone(),
                    memory: None,
                    shared: Some(shared),
                    instances,
                    store,
                }
            }
        })
    }

    fn spawn(
        &self,
        config: &Config,
        instance: &str,
        clock: &Arc<dyn Clock>,
        stop: &watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(memory) = &self.memory {
            let (store, memory, clock) = (self.store.clone(), memory.clone(), Arc::clone(clock));
            tasks.push(tokio::spawn(every(
                Duration::from_millis(config.ratelimit.quota_flush_ms.max(10)),
                stop.clone(),
                move || flush_quotas(store.clone(), memory.clone(), Arc::clone(&clock)),
            )));
        }
        if let Some(shared) = &self.shared {
            tasks.push(tokio::spawn(
                Arc::clone(shared).recover(Arc::clone(clock), stop.clone()),
            ));
            if config.ratelimit.instances.is_none() {
                let beat = Heartbeat::new(
                    self.store.clone(),
                    instance.to_string(),
                    Arc::clone(clock),
                    Arc::clone(&self.instances),
                );
                tasks.push(tokio::spawn(beat.run(stop.clone())));
            }
        }
        tasks
    }
}

async fn flush_quotas(store: Store, limiter: Arc<MemoryLimiter>, clock: Arc<dyn Clock>) {
    let deltas = limiter.take_unflushed();
    if deltas.is_empty() {
        return;
    }
    if let Err(err) = quota_store::add(&store, &deltas, clock.now().timestamp()).await {
        tracing::warn!(error = %err, "quota flush failed; will retry");
        limiter.restore_unflushed(deltas);
    }
}

/// Runs `job` every `period` until shutdown.
async fn every<F, Fut>(period: Duration, mut shutdown: watch::Receiver<bool>, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => job().await,
            _ = shutdown.changed() => return,
        }
    }
}
