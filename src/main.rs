//! The `davaudit` binary: parse the command line, run it, print the error chain.

use std::process::ExitCode;

/// jemalloc instead of glibc's malloc. The frames of a 207 stay referenced after they are
/// forwarded (the audit's queue, the gathered client write), so hyper cannot reuse its
/// upstream read buffer and takes a fresh ~408 KiB one per read; glibc gives those back to
/// the kernel as they are freed (`madvise(MADV_DONTNEED)`, heap trim) and the next body
/// faults them in again, page by page. jemalloc keeps freed pages for reuse (decay: 10 s).
/// 207 x10,000 (4 MB), 160 requests on 4 and 16 connections: 73-314 minor faults per request
/// -> 3-17 (the plain hyper pass-through: 17-25); 43 -> 4 `madvise` per 100 requests. The
/// library sets no allocator: tests and embedders keep their own.
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    davaudit::main()
}
