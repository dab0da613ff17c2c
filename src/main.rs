//! The `davaudit` binary: parse the command line, run it, print the error chain.

use std::process::ExitCode;

fn main() -> ExitCode {
    davaudit::main()
}
