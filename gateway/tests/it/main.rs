//! Integration tests: the gateway started on a random port with a fresh
//! data dir (or a fresh PostgreSQL database), driven over HTTP the way a
//! client or an operator would. One test binary, so the suite links once.

mod admin_api;
mod aws;
mod bad_input;
mod campaigns;
mod cli;
mod drill;
mod elasticsearch;
mod faults;
mod key_sync;
mod limiter_conformance;
mod messages;
mod openapi;
mod paths;
mod proxy;
mod quickstart;
mod rate_limits;
mod reminders;
mod scale_out;
mod search_api;
mod signin;
mod store_suite;
mod support;
mod webhooks;
