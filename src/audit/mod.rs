//! The audit (being written).
pub mod policy;
