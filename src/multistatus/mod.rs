//! The multistatus scanner (being written).
pub mod report;
pub use report::{AllErrors, Classify, Code, Failure, Level, Malformed, Outcome, Report};
