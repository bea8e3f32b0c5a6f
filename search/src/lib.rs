//! Volunteers, events and attendances, and the engines that search them.
//!
//! Built so far (the search issue goes on from here): the domain values
//! that requests are parsed into once (`model`) and the exact geometry
//! every engine must agree on (`geo`).

pub mod geo;
pub mod model;
