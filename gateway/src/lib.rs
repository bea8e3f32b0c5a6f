//! Turnout's API gateway: API keys grouped into plans, rate limits and
//! quotas, routing to upstream groups, usage analytics and the admin API.
//! The `turnout` binary (main.rs) is a thin CLI over this library.

pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod edge;
pub mod keys;
pub mod limiter;
pub mod openapi;
pub mod ops;
pub mod proxy;
pub mod routes;
pub mod search_cli;
pub mod server;
pub mod telemetry;
pub mod usage;
