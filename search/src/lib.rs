//! Volunteers, events and attendances, and the engines that search them.
//!
//! `model` holds the domain values requests are parsed into once; `store`
//! and `records` write them, with a change log that `changelog` follows
//! into a search `engine`; `params` turns Mobilize query strings into the
//! engine-neutral `query`; `http` is the axum router the gateway mounts;
//! `import` streams NDJSON and CSV files in; `demo` generates data.

pub mod changelog;
pub mod demo;
pub mod engine;
pub mod geo;
pub mod http;
pub mod import;
pub mod model;
pub mod params;
pub mod query;
pub mod records;
pub mod reference;
pub mod store;
pub mod zip;
