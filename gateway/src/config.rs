//! Configuration: one TOML file, every key overridable by an environment
//! variable `TURNOUT_<PATH>` (sections joined by `__`), and defaults that
//! run everything embedded in `./turnout-data` when there is no file at all.
//!
//! An override's value is read as a TOML value when it parses as one
//! (`8080`, `true`, `["a", "b"]`, `[{prefix = "/v1/x", upstream = "x"}]`)
//! and as a plain string otherwise. Unknown keys are errors, so a typo never
//! silently leaves a default in force.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// What clients and providers see; the base of `next`/`previous` links.
    pub public_url: Option<String>,
    /// Absent: generated on first start, stored hashed, printed once.
    pub admin_token: Option<String>,
    /// The HMAC key for API key secrets. Absent: generated on first start
    /// and kept in the store, shared by every instance. Changing it
    /// invalidates every key.
    pub key_hash_secret: Option<String>,
    pub store: StoreConfig,
    pub ratelimit: RateLimitConfig,
    pub server: ServerConfig,
    pub proxy: ProxyConfig,
    pub sync: SyncConfig,
    pub usage: UsageConfig,
    pub log: LogConfig,
    pub search: SearchConfig,
    /// Providers, limits, footer and worker settings (`turnout_outreach::config`).
    pub outreach: turnout_outreach::config::OutreachConfig,
    /// App-user sign-in: tokens and one-time codes (`auth::config`).
    pub auth: crate::auth::config::AuthConfig,
    pub upstreams: Vec<UpstreamConfig>,
    pub routes: Vec<RouteConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid"),
            data_dir: PathBuf::from("./turnout-data"),
            public_url: None,
            admin_token: None,
            key_hash_secret: None,
            store: StoreConfig::default(),
            ratelimit: RateLimitConfig::default(),
            server: ServerConfig::default(),
            proxy: ProxyConfig::default(),
            sync: SyncConfig::default(),
            usage: UsageConfig::default(),
            log: LogConfig::default(),
            search: SearchConfig::default(),
            outreach: Default::default(),
            auth: Default::default(),
            upstreams: Vec::new(),
            routes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://…`; absent: `turnout.db` (SQLite) in the data dir.
    pub url: Option<String>,
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LimiterBackend {
    Memory,
    Redis,
}

/// Whose clock the Redis limiter decides by.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RedisClock {
    /// The Redis server's: one timeline for every instance (the default).
    Redis,
    /// This gateway's own clock (tests that drive time).
    Gateway,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub backend: LimiterBackend,
    pub redis_url: Option<String>,
    /// Every Redis key starts with it, so deployments can share a Redis.
    pub redis_prefix: String,
    /// A Redis call slower than this counts as Redis being down.
    pub redis_timeout_ms: u64,
    pub redis_clock: RedisClock,
    /// How many instances share the limits, for the fallback share while
    /// Redis is down; absent: counted from the instances' heartbeats.
    pub instances: Option<u32>,
    /// How often quota counts are written to the store: the most a crash
    /// can lose.
    pub quota_flush_ms: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            backend: LimiterBackend::Memory,
            redis_url: None,
            redis_prefix: "turnout:rl:".into(),
            redis_timeout_ms: 250,
            redis_clock: RedisClock::Redis,
            instances: None,
            quota_flush_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// A client that has not sent a complete request head by then is
    /// disconnected. hyper starts this clock when it begins waiting for the
    /// next request, so it is also the idle keep-alive timeout.
    pub header_read_timeout_ms: u64,
    /// A client that stalls while sending a body gets 408.
    pub body_read_timeout_ms: u64,
    /// How long in-flight requests may take to finish on SIGTERM.
    pub shutdown_grace_ms: u64,
    /// Worker threads, each with its own listener and upstream pool.
    /// Absent: one per CPU this process may run on.
    pub workers: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            header_read_timeout_ms: 30_000,
            body_read_timeout_ms: 15_000,
            shutdown_grace_ms: 30_000,
            workers: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    pub connect_timeout_ms: u64,
    /// Consecutive failures (refused, timed out, 502/503/504) that eject a
    /// target.
    pub eject_after_failures: u32,
    /// How long an ejected target is left alone.
    pub eject_ms: u64,
    pub pool_idle_per_host: usize,
    pub pool_idle_timeout_ms: u64,
    /// `X-Forwarded-Proto` sent upstream: what the client used to reach
    /// the load balancer in front of Turnout.
    pub forwarded_proto: String,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 2_000,
            eject_after_failures: 3,
            eject_ms: 10_000,
            pool_idle_per_host: 256,
            pool_idle_timeout_ms: 60_000,
            forwarded_proto: "http".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// How often each instance looks for key and plan changes.
    pub poll_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self { poll_ms: 250 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageConfig {
    /// How often finished minutes of usage are written to the store (the
    /// current minute is written when a report asks for it and on
    /// shutdown).
    pub flush_ms: u64,
    /// Instance name in usage rows; absent: host name and port.
    pub instance: Option<String>,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            flush_ms: 5_000,
            instance: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub level: String,
    /// One line per request (method, path without `api_key`, status,
    /// route, key id, latency).
    pub access: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".into(),
            access: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    pub targets: Vec<String>,
    #[serde(default)]
    pub failover: Vec<String>,
    #[serde(default = "default_upstream_timeout")]
    pub timeout_ms: u64,
}

fn default_upstream_timeout() -> u64 {
    5_000
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RouteAuth {
    #[default]
    Key,
    User,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchEngineKind {
    #[default]
    Tantivy,
    Elasticsearch,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    pub engine: SearchEngineKind,
    /// Elasticsearch's URL.
    pub url: Option<String>,
    /// The alias the Elasticsearch engine serves from (its indices are
    /// named after it); default `turnout-records`.
    pub index: Option<String>,
    /// How long one Elasticsearch request may take, in ms (default 10 s).
    pub timeout_ms: Option<u64>,
    /// Where the Tantivy index lives; default `<data_dir>/search`.
    pub index_dir: Option<PathBuf>,
    /// How long a write through the API waits for its change to be
    /// searchable on the instance that took it, in ms (default 1000; 0:
    /// answer at once and let the index catch up).
    pub visible_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub prefix: String,
    pub upstream: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub auth: RouteAuth,
    /// `auth = "user"` routes only: the least role a token must carry
    /// (`volunteer`, the default, `organizer` or `admin`).
    #[serde(default)]
    pub role: Option<turnout_search::model::resources::Role>,
    #[serde(default)]
    pub strip_prefix: bool,
}

/// The top-level keys an environment variable may override; other
/// `TURNOUT_*` variables (the test suites' own, say) are left alone.
const TOP_LEVEL: [&str; 17] = [
    "listen",
    "auth",
    "data_dir",
    "public_url",
    "admin_token",
    "key_hash_secret",
    "store",
    "ratelimit",
    "server",
    "proxy",
    "sync",
    "usage",
    "log",
    "search",
    "outreach",
    "upstreams",
    "routes",
];

impl Config {
    /// Reads `file` (if any), then applies the `TURNOUT_*` variables of
    /// `env`, then validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("TURNOUT_"))
            .collect();
        vars.sort();
        for (name, raw) in vars {
            let path: Vec<String> = name["TURNOUT_".len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect();
            if !TOP_LEVEL.contains(&path[0].as_str()) {
                continue;
            }
            set_path(&mut table, &path, parse_env_value(&raw))
                .map_err(|e| ConfigError::Parse(format!("{name}: {e}")))?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.ratelimit.backend == LimiterBackend::Redis && self.ratelimit.redis_url.is_none() {
            return invalid("ratelimit.backend = \"redis\" needs ratelimit.redis_url".into());
        }
        if self.ratelimit.instances == Some(0) {
            return invalid("ratelimit.instances must be at least 1".into());
        }
        if self.search.engine == SearchEngineKind::Elasticsearch && self.search.url.is_none() {
            return invalid("search.engine = \"elasticsearch\" needs search.url".into());
        }
        self.outreach
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid(format!("public_url must be an http(s) URL, got {url:?}"));
        }
        let mut names = std::collections::HashSet::new();
        for u in &self.upstreams {
            if !names.insert(u.name.as_str()) {
                return invalid(format!("upstream {:?} is declared twice", u.name));
            }
            if u.targets.is_empty() {
                return invalid(format!("upstream {:?} has no targets", u.name));
            }
            if u.timeout_ms == 0 {
                return invalid(format!("upstream {:?}: timeout_ms must be above 0", u.name));
            }
            for t in u.targets.iter().chain(&u.failover) {
                crate::proxy::upstream::parse_target(t)
                    .map_err(|e| ConfigError::Invalid(format!("upstream {:?}: {e}", u.name)))?;
            }
        }
        let mut prefixes = std::collections::HashSet::new();
        for r in &self.routes {
            if !names.contains(r.upstream.as_str()) {
                return invalid(format!(
                    "route {:?} names unknown upstream {:?}",
                    r.prefix, r.upstream
                ));
            }
            if !crate::routes::valid_prefix(&r.prefix) {
                return invalid(format!(
                    "route prefix {:?} must start with /v1/, have no empty, '.' or '..' segments, and no trailing '/'",
                    r.prefix
                ));
            }
            if crate::routes::claims_built_in(&r.prefix) {
                return invalid(format!(
                    "route prefix {:?} overlaps a built-in route ({})",
                    r.prefix,
                    crate::routes::BUILT_IN
                        .iter()
                        .map(|(p, ..)| *p)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !prefixes.insert(r.prefix.as_str()) {
                return invalid(format!("route prefix {:?} is declared twice", r.prefix));
            }
            for s in &r.scopes {
                crate::keys::Scope::try_from(s.clone())
                    .map_err(|e| ConfigError::Invalid(format!("route {:?}: {e}", r.prefix)))?;
            }
            if r.role.is_some() && r.auth != RouteAuth::User {
                return invalid(format!(
                    "route {:?}: a role applies to auth = \"user\" routes only",
                    r.prefix
                ));
            }
        }
        crate::auth::destination::SmsCountries::parse(&self.auth.otp.sms_countries)
            .map_err(ConfigError::Invalid)?;
        for (name, text) in [
            ("sms_text", &self.auth.otp.sms_text),
            ("email_text", &self.auth.otp.email_text),
        ] {
            if !text.contains(turnout_outreach::codes::MARK) {
                return invalid(format!(
                    "auth.otp.{name} must contain {} where the code goes",
                    turnout_outreach::codes::MARK
                ));
            }
        }
        if self.auth.access_ttl_secs == 0 || self.auth.otp.max_attempts == 0 {
            return invalid(
                "auth.access_ttl_secs and auth.otp.max_attempts must be above 0".into(),
            );
        }
        Ok(())
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut cursor = table;
    for part in parents {
        let entry = cursor
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cursor = entry
            .as_table_mut()
            .ok_or_else(|| format!("{part} is not a section"))?;
    }
    cursor.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn no_file_means_embedded_defaults() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./turnout-data"));
        assert!(c.store.url.is_none());
    }

    #[test]
    fn env_vars_override_nested_keys_with_typed_values() {
        let c = Config::load(
            None,
            env(&[
                ("TURNOUT_LISTEN", "0.0.0.0:9000"),
                ("TURNOUT_STORE__URL", "postgres://u@h/db"),
                ("TURNOUT_SERVER__MAX_BODY_BYTES", "2048"),
                ("TURNOUT_LOG__ACCESS", "false"),
                ("TURNOUT_TEST_SOMETHING", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.store.url.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(c.server.max_body_bytes, 2048);
        assert!(!c.log.access);
    }

    #[test]
    fn typos_and_bad_routes_are_errors() {
        assert!(Config::load(None, env(&[("TURNOUT_SERVER__MAX_BODY", "1")])).is_err());
        let dir = std::env::temp_dir().join(format!("turnout-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(
            &file,
            "[[upstreams]]\nname = \"a\"\ntargets = [\"http://127.0.0.1:1\"]\n[[routes]]\nprefix = \"/v1/a/\"\nupstream = \"a\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(err.contains("prefix"), "{err}");
    }
}
