//! The audit (wiring in progress: the full module lands with the scanner API).
pub mod decode;
pub mod policy;
pub mod tee;
