//! The per-response audit task: queue -> decode -> scanner -> report -> telemetry event.
//!
//! It owns the receiving end of the tee's queue and ends when the tee reports the end of the
//! body (or is dropped), so it never outlives its response. One loop whatever the coding:
//! each chunk goes to the scanner directly, or through the push-style [`Decoder`] that hands
//! the scanner each decoded run; its queue budget is given back as soon as that returns.
//!
//! By default an audit runs where its response is forwarded, on the connection's worker, as
//! nginx keeps a request on its worker process: a long stream's scanning and forwarding take
//! turns on one core, with no wake-up across threads. With `audit.offload_after` set (and
//! `audit.when_behind: wait`), a body's audit past that many bytes moves once to a worker with
//! fewer connections (`workers::offload`), so the scanner and the forwarding of the stream run
//! on two cores; the task that started it waits for its report.
//! A moved audit gives budget back in lumps of 3/4 of the queue (or when the queue is empty), so
//! the forwarding thread, paced by it, is woken once per lump, not once per batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::InSuccess;
use super::decode::{self, Codings, DecodeError, Decoder};
use super::policy::MethodPolicy;
use super::tee::{Budget, End, Message, Receiver};
use crate::multistatus::{BodyEnd, Malformed, Outcome, Report, Scanner};
use crate::telemetry::Telemetry;
use crate::telemetry::events::{MultistatusScanned, RequestContext};
use crate::workers::{self, Placement};
use tracing::Instrument;

/// Everything the task needs, moved into it.
#[derive(Debug)]
pub(super) struct AuditTask {
    pub(super) rx: Receiver,
    pub(super) codings: Codings,
    /// Boxed: the scanner is a few KiB, and the task's future is moved several times on its
    /// way into the runtime (a copy of the whole future each time).
    pub(super) scanner: Box<Scanner<MethodPolicy>>,
    pub(super) context: Arc<RequestContext>,
    pub(super) status: u16,
    pub(super) started: Instant,
    pub(super) telemetry: Telemetry,
    pub(super) max_logged_failures: usize,
    /// Test hook: sleep this long before scanning each chunk (a slow scanner).
    pub(super) delay: Option<Duration>,
    /// A 207 read whatever its non-XML label: `skipped` unless it showed a `DAV:response`.
    pub(super) sniffed: bool,
    /// A 2xx other than 207: reported only when its audit counted a failure.
    pub(super) in_success: Option<InSuccess>,
    pub(super) placing: Placing,
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
            in_success,
            placing,
        } = self;
        let decoder = (!codings.is_identity()).then(|| Decoder::new(&codings));
        let gate = in_success
            .filter(|s| s.sniff_first_bytes)
            .map(|_| FirstBytes::default());
        let mut report = scan(rx, decoder, scanner, delay, gate, placing).await;
        if in_success.is_some() {
            if report.failure_count == 0 {
                // A success with nothing failing inside: not an audit operators count.
                return;
            }
            if report.outcome == Outcome::PartialFailure {
                report.outcome = Outcome::FailureInSuccess;
            }
        }
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
            report: &mut report,
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

/// Where the audit runs, and how it gives queue budget back.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placing {
    /// Look for a less busy worker once this many body bytes were read (`None`: stay;
    /// `audit.offload_after`).
    pub(super) offload_after: Option<u64>,
    /// Budget given back by a moved audit in lumps of at least this many bytes (or as soon as
    /// the queue is empty), so the forwarding thread, waiting for budget, is woken once per
    /// lump rather than once per batch.
    pub(super) lump: u32,
    /// Body bytes an identity-coded body's audit scans before it lets the worker turn:
    /// `workers::TURN_BYTES`, or with `audit.when_behind: skip` all the queue can hold
    /// (`audit.queue_bytes`). Nothing paces forwarding to a `skip` audit, so one that turned
    /// every `TURN_BYTES` scanned, while each turn between forwarded more, would see the
    /// queue fill and stop as `lagging` with a scanner faster than the forwarding. (A coded
    /// body turns every `TURN_BYTES` of work: its queued bytes can decode to far more.)
    pub(super) turn: usize,
}

/// The state of one body's audit between queue messages: it can move to another worker.
struct Scan {
    rx: Receiver,
    decoder: Option<Decoder>,
    scanner: Box<Scanner<MethodPolicy>>,
    delay: Option<Duration>,
    gate: Option<FirstBytes>,
    decode_error: Option<DecodeError>,
    /// Set once the first bytes of an unlabelled body showed it is not XML: drain only.
    not_xml: bool,
    /// Body bytes read from the queue so far.
    read: u64,
    /// Bytes scanned since the worker last turned.
    since_turn: usize,
    /// Budget of processed bytes not given back yet (a moved audit only).
    held: Option<Budget>,
}

/// How [`Scan::pump`] stopped.
enum Pumped {
    End(End),
    /// The audit should go on on this other worker.
    Move(Placement),
}

/// Reads the queue to its end, decoding when there is a coding, and returns the report. A
/// long body's audit moves, once, to a less busy worker (`placing`).
async fn scan(
    rx: Receiver,
    decoder: Option<Decoder>,
    scanner: Box<Scanner<MethodPolicy>>,
    delay: Option<Duration>,
    gate: Option<FirstBytes>,
    placing: Placing,
) -> Report {
    let mut scan = Scan {
        rx,
        decoder,
        scanner,
        delay,
        gate,
        decode_error: None,
        not_xml: false,
        read: 0,
        since_turn: 0,
        held: None,
    };
    let turn = if scan.decoder.is_some() {
        workers::TURN_BYTES
    } else {
        placing.turn
    };
    match scan.pump(placing.offload_after, None, turn).await {
        Pumped::End(end) => scan.finish(end),
        Pumped::Move(placement) => {
            let span = tracing::Span::current();
            let handle = placement.handle().clone();
            let moved = handle.spawn(
                async move {
                    let _placement = placement;
                    let end = match scan
                        .pump(None, Some(placing.lump), workers::TURN_BYTES)
                        .await
                    {
                        Pumped::End(end) => end,
                        Pumped::Move(_) => End::Cancelled,
                    };
                    scan.finish(end)
                }
                .instrument(span),
            );
            // Cancelled only when the workers stop (davaudit is exiting).
            moved
                .await
                .unwrap_or_else(|_| Report::empty(Outcome::Truncated))
        }
    }
}

impl Scan {
    /// Reads the queue to the body's end; or, with `offload_after`, stops past that many bytes
    /// when a less busy worker can take the rest. `lump`: give budget back in lumps. `turn`:
    /// bytes of work between two turns of the worker (`Placing::turn`).
    async fn pump(&mut self, offload_after: Option<u64>, lump: Option<u32>, turn: usize) -> Pumped {
        loop {
            if self.rx.is_empty() {
                // Waiting for the next message lets the worker turn.
                self.since_turn = 0;
            }
            match self.rx.recv().await {
                Some(Message::Data(chunks, budget)) => {
                    if let Some(delay) = self.delay {
                        tokio::time::sleep(delay).await;
                    }
                    // Scanned a piece at a time: the worker turns between pieces once a
                    // turn's work is done, so a costly body (a decompression bomb's output, a
                    // batch of `audit.queue_bytes`) does not hold the other connections on it.
                    let piece_len = if self.decoder.is_some() {
                        decode::SLICE
                    } else {
                        workers::TURN_BYTES
                    };
                    for piece in chunks.iter().flat_map(|bytes| bytes.chunks(piece_len)) {
                        if self.not_xml {
                            break;
                        }
                        self.since_turn = self.since_turn.saturating_add(self.feed(piece));
                        if self.since_turn >= turn {
                            self.since_turn = 0;
                            tokio::task::yield_now().await;
                        }
                    }
                    match lump {
                        None => drop(budget),
                        Some(lump) => {
                            let held = match self.held.take() {
                                Some(mut held) => {
                                    held.absorb(budget);
                                    held
                                }
                                None => budget,
                            };
                            // Never held while the audit waits: the tee may be waiting too.
                            if held.bytes() < lump && !self.rx.is_empty() {
                                self.held = Some(held);
                            }
                        }
                    }
                    if offload_after.is_some_and(|after| self.read >= after)
                        && let Some(placement) = workers::offload()
                    {
                        return Pumped::Move(placement);
                    }
                }
                Some(Message::End(end)) => return Pumped::End(end),
                None => return Pumped::End(End::Cancelled),
            }
        }
    }

    /// Decodes (when there is a coding) and scans one piece of the body; returns the bytes
    /// scanned.
    fn feed(&mut self, piece: &[u8]) -> usize {
        let Scan {
            decoder,
            scanner,
            gate,
            decode_error,
            not_xml,
            read,
            ..
        } = self;
        *read = read.saturating_add(piece.len() as u64);
        let mut work = 0usize;
        let mut feed = |out: &[u8]| {
            work = work.saturating_add(out.len());
            match gate.as_mut().map(|g| g.feed(out)) {
                Some(Some(false)) => {}
                _ => scanner.feed(out),
            }
        };
        match decoder.as_mut() {
            None => feed(piece),
            // After a decode error the rest is only drained: budget back, no work.
            Some(decoder) if decode_error.is_none() => {
                if let Err(error) = decoder.push(piece, &mut feed) {
                    *decode_error = Some(error);
                }
            }
            Some(_) => {}
        }
        *not_xml = gate.as_ref().and_then(|g| g.verdict) == Some(false);
        work
    }

    /// The report, once the body ended as `end`.
    fn finish(mut self, end: End) -> Report {
        self.held = None;
        if self.not_xml {
            // Never reported: an unlabelled success body that is not XML.
            return Report::empty(Outcome::Skipped);
        }
        let Scan {
            mut decoder,
            mut scanner,
            mut decode_error,
            ..
        } = self;
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
}

/// Whether an unlabelled body is XML, from its first bytes: an optional UTF-8 BOM, optional
/// whitespace, then `<` (which `<?xml` starts with too). Decided at the first other byte.
#[derive(Debug, Default)]
struct FirstBytes {
    /// Bytes of the UTF-8 BOM matched so far.
    bom: usize,
    /// A byte other than the BOM's was seen.
    started: bool,
    verdict: Option<bool>,
}

impl FirstBytes {
    const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

    /// Looks at the next bytes; returns the verdict once there is one.
    fn feed(&mut self, bytes: &[u8]) -> Option<bool> {
        for &b in bytes {
            if self.verdict.is_some() {
                break;
            }
            if !self.started && self.bom < Self::BOM.len() && Self::BOM.get(self.bom) == Some(&b) {
                self.bom += 1;
                continue;
            }
            if !self.started && self.bom != 0 && self.bom != Self::BOM.len() {
                self.verdict = Some(false);
                break;
            }
            self.started = true;
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'<' => self.verdict = Some(true),
                _ => self.verdict = Some(false),
            }
        }
        self.verdict
    }
}

#[cfg(test)]
mod tests {
    use super::FirstBytes;

    fn verdict(chunks: &[&[u8]]) -> Option<bool> {
        let mut gate = FirstBytes::default();
        chunks.iter().fold(None, |_, c| gate.feed(c))
    }

    #[test]
    fn xml_is_told_from_its_first_bytes_split_anywhere() {
        assert_eq!(verdict(&[b"<?xml version='1.0'?>"]), Some(true));
        assert_eq!(
            verdict(&[b"\xEF", b"\xBB\xBF", b" \r\n", b"<D:response"]),
            Some(true)
        );
        assert_eq!(verdict(&[b"  ", b"\n"]), None);
        assert_eq!(verdict(&[b"Deleted."]), Some(false));
        assert_eq!(verdict(&[b"{\"ok\":true}"]), Some(false));
        assert_eq!(verdict(&[b"\xEF\xBB<"]), Some(false));
        assert_eq!(verdict(&[b" \xEF\xBB\xBF<"]), Some(false));
    }
}
