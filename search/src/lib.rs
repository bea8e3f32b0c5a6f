//! Volunteers, events and attendances, and the engines that search them.
//!
//! Built so far (the search issue goes on from here): the domain values
//! that requests are parsed into once (`model`), the exact geometry every
//! engine must agree on (`geo`), the engine-neutral query (`query`) and
//! the Mobilize query strings that become one (`params`). Storage, the
//! engines, the HTTP routes and import come next.

pub mod geo;
pub mod model;
pub mod params;
pub mod query;
pub mod zip;
