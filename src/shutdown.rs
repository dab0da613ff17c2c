//! The shutdown signal: SIGTERM or SIGINT (Ctrl-C). `main` passes [`signal`] to
//! `app::run`; tests pass their own future or call `Running::shutdown`.
//!
//! A second SIGTERM or SIGINT during the drain exits at once (status 143 or 130, as a shell
//! reports a process killed by that signal): whoever sends it has decided not to wait.

/// Exit status after a second SIGTERM during the drain (128 + 15).
pub(crate) const FORCED_EXIT_SIGTERM: i32 = 143;
/// Exit status after a second SIGINT during the drain (128 + 2).
pub(crate) const FORCED_EXIT_SIGINT: i32 = 130;

/// Resolves on the first SIGTERM or SIGINT; from then on, a second one ends the process.
///
/// The handlers are installed when this is called, not when the future is first polled: a
/// signal sent as soon as `listening` is logged must not meet the default action (death).
/// Call it inside the runtime.
pub(crate) fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Some((term, int)),
            _ => None,
        }
    };
    async move {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = streams {
            let first = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            // A second SIGTERM or SIGINT exits at once (below).
            tracing::info!(signal = first, "shutting down");
            tokio::spawn(async move {
                let (second, status) = tokio::select! {
                    _ = term.recv() => ("SIGTERM", FORCED_EXIT_SIGTERM),
                    _ = int.recv() => ("SIGINT", FORCED_EXIT_SIGINT),
                };
                tracing::warn!(
                    signal = second,
                    status,
                    "second signal during the drain: exiting now, in-flight requests are cut"
                );
                std::process::exit(status);
            });
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!(signal = "SIGINT", "shutting down");
    }
}
