//! The per-response audit task: queue -> decode -> scanner -> report -> telemetry event.
//!
//! It owns the receiving end of the tee's queue and ends when the tee reports the end of the
//! body (or is dropped), so it never outlives its response. One loop whatever the coding:
//! each chunk goes to the scanner directly, or through the push-style [`Decoder`] that hands
//! the scanner each decoded run; its queue budget is given back as soon as that returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::decode::{Codings, DecodeError, Decoder};
use super::policy::MethodPolicy;
use super::tee::{End, Message, Receiver};
use crate::multistatus::{BodyEnd, Malformed, Outcome, Report, Scanner};
use crate::telemetry::Telemetry;
use crate::telemetry::events::{MultistatusScanned, RequestContext};

/// Everything the task needs, moved into it.
#[derive(Debug)]
pub(super) struct AuditTask {
    pub(super) rx: Receiver,
    pub(super) codings: Codings,
    pub(super) scanner: Scanner<MethodPolicy>,
    pub(super) context: Arc<RequestContext>,
    pub(super) status: u16,
    pub(super) started: Instant,
    pub(super) telemetry: Telemetry,
    pub(super) max_logged_failures: usize,
    /// Test hook: sleep this long before scanning each chunk (a slow scanner).
    pub(super) delay: Option<Duration>,
    /// A 207 read whatever its non-XML label: `skipped` unless it showed a `DAV:response`.
    pub(super) sniffed: bool,
}

impl AuditTask {
    pub(super) async fn run(self) {
        let AuditTask {
            rx,
            codings,
            scanner,
            context,
            status,
            started,
            telemetry,
            max_logged_failures,
            delay,
            sniffed,
        } = self;
        let decoder = (!codings.is_identity()).then(|| Decoder::new(&codings));
        let mut report = scan(rx, decoder, scanner, delay).await;
        if sniffed
            && report.entries == 0
            && matches!(report.outcome, Outcome::Malformed | Outcome::NotMultistatus)
        {
            // Not a multistatus after all (an HTML error page under a 207): not audited.
            let bytes = report.bytes;
            report = Report::empty(Outcome::Skipped);
            report.bytes = bytes;
        }
        MultistatusScanned {
            request: &context,
            status,
            report: &report,
            max_logged_failures,
            duration: started.elapsed(),
        }
        .emit(&telemetry);
    }
}

fn body_end(end: End) -> BodyEnd {
    match end {
        End::Complete => BodyEnd::Complete,
        End::Error | End::Cancelled => BodyEnd::Truncated,
        End::Lagging => BodyEnd::Lagging,
    }
}

/// Reads the queue to its end, decoding when there is a coding, and returns the report.
async fn scan(
    mut rx: Receiver,
    mut decoder: Option<Decoder>,
    mut scanner: Scanner<MethodPolicy>,
    delay: Option<Duration>,
) -> Report {
    let mut decode_error: Option<DecodeError> = None;
    let end = loop {
        match rx.recv().await {
            Some(Message::Data(chunks, budget)) => {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                for bytes in &chunks {
                    match decoder.as_mut() {
                        None => scanner.feed(bytes),
                        // After a decode error the rest is only drained: budget back, no work.
                        Some(decoder) if decode_error.is_none() => {
                            if let Err(error) = decoder.push(bytes, &mut |out| scanner.feed(out)) {
                                decode_error = Some(error);
                            }
                        }
                        Some(_) => {}
                    }
                }
                drop(budget);
            }
            Some(Message::End(end)) => break end,
            None => break End::Cancelled,
        }
    };
    if end == End::Complete
        && decode_error.is_none()
        && let Some(decoder) = decoder.as_mut()
        && let Err(error) = decoder.finish(&mut |out| scanner.feed(out))
    {
        decode_error = Some(error);
    }
    let mut report = scanner.finish(body_end(end));
    // A decode error on a body that ended early is the truncation itself.
    if let (Some(error), End::Complete) = (decode_error, end)
        && !matches!(report.outcome, Outcome::Malformed | Outcome::OverLimit)
    {
        report.outcome = Outcome::Malformed;
        report.malformed = Some(Malformed {
            offset: report.bytes,
            reason: error.to_string(),
            limit: None,
        });
    }
    report
}
