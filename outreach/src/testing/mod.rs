//! Peers for tests and benchmarks: things that stand
//! where a provider would, on 127.0.0.1, and can be told to misbehave.

pub mod twilio_peer;
