//! The audit sink: the only place that names a metric or logs an audit outcome.
//!
//! - [`labels`]: closed label sets.
//! - [`metrics`]: the registry and every metric family (the DESIGN.md contract).
//! - [`events`]: typed events; `emit()` logs and counts.
//! - [`logging`]: tracing-subscriber set-up (text or JSON).
//! - [`throttle`]: repeated WARNs folded into one summary per interval.

pub mod events;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod throttle;

#[cfg(test)]
mod bound_tests;
#[cfg(test)]
mod contract_tests;

pub use events::RequestContext;
pub use metrics::Metrics;
