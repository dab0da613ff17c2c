//! Learning: a tag the trie does not hold is read the ordinary way (`Lexer::lex`) through a
//! `Recorder`, a sink that passes every call on and records it; when what reading did has a
//! shape the trie replays (`recordable` bytes, left in `Text`, at most one report and one
//! role), the tag becomes a child of the current node with that `Effect`. An empty element
//! with attributes (`readable`) is read whole (`read_whole`) and kept as `Effect::Read`.

use memchr::{memchr, memchr3};

use super::trie::{Effect, Report, TAG, offset};
use crate::multistatus::lexer::bytes::is_ws;
use crate::multistatus::lexer::roles::Role;
use crate::multistatus::lexer::state::State;
use crate::multistatus::lexer::{Lexer, Sink};
use crate::multistatus::report::{Level, Malformed};

/// The sink calls made while one tag was read for recording.
#[derive(Debug, Default)]
pub(super) struct Recorded {
    /// Calls in order; more than four is no shape a recorded tag has.
    calls: [Option<Call>; 4],
    count: usize,
    pub(super) uri: Vec<u8>,
    pub(super) local: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Start(Role),
    End(Role),
    Report(Report),
}

impl Recorded {
    fn push(&mut self, call: Call) {
        if let Some(slot) = self.calls.get_mut(self.count) {
            *slot = Some(call);
        }
        self.count = self.count.saturating_add(1);
    }
}

/// Passes every call on to the real sink and records it.
struct Recorder<'s> {
    sink: &'s mut dyn Sink,
    log: Recorded,
}

impl Sink for Recorder<'_> {
    fn start(&mut self, role: Role) {
        self.log.push(Call::Start(role));
        self.sink.start(role);
    }

    fn end(&mut self, role: Role, text: &[u8]) {
        self.log.push(Call::End(role));
        self.sink.end(role, text);
    }

    fn wants_text(&self) -> bool {
        self.sink.wants_text()
    }

    fn error_child(&mut self, owner: Level, dav: bool, uri: &[u8], local: &[u8]) {
        self.log
            .push(Call::Report(Report::ErrorChild { owner, dav }));
        self.log.uri = uri.to_vec();
        self.log.local = local.to_vec();
        self.sink.error_child(owner, dav, uri, local);
    }

    fn wants_props(&self) -> bool {
        self.sink.wants_props()
    }

    fn prop(&mut self, uri: &[u8], local: &[u8]) {
        self.log.push(Call::Report(Report::Prop(0)));
        self.log.uri = uri.to_vec();
        self.log.local = local.to_vec();
        self.sink.prop(uri, local);
    }

    fn prop_token(&mut self, token: u64, uri: &[u8], local: &[u8]) {
        self.log.push(Call::Report(Report::Prop(token)));
        self.log.uri = uri.to_vec();
        self.log.local = local.to_vec();
        self.sink.prop_token(token, uri, local);
    }
}

/// The length of the tag at the start of `s` (at a `<`) if it may be recorded: through its
/// `>`, at most `TAG` bytes, no `<!`/`<?`, no quote or `<` inside.
pub(super) fn recordable(s: &[u8]) -> Option<usize> {
    if matches!(s.get(1), Some(b'!' | b'?') | None) {
        return None;
    }
    let window = s.get(1..TAG.min(s.len()))?;
    // The first `>` or quote (a quote first: not recordable), then no `<` before it: one
    // pass each with `memchr` (a tag with attributes is met again at every entry).
    let end = memchr3(b'>', b'"', b'\'', window)?;
    if window.get(end) != Some(&b'>') || memchr(b'<', window.get(..end)?).is_some() {
        return None;
    }
    end.checked_add(2)
}

/// The length of the tag at the start of `s` (at a `<`) if it may be read whole by the
/// walk (`Kind::Read`): an empty element (`/>`) through its first `>` outside quotes, at
/// most `TAG` bytes, no `<`, no `<!`/`<?`/`</`.
pub(super) fn readable(s: &[u8]) -> Option<usize> {
    if matches!(s.get(1), Some(b'!' | b'?' | b'/') | None) {
        return None;
    }
    let window = s.get(1..TAG.min(s.len()))?;
    let mut quote = 0u8;
    for (i, &b) in window.iter().enumerate() {
        match b {
            b'<' => return None,
            b'"' | b'\'' if quote == 0 => quote = b,
            _ if b == quote => quote = 0,
            b'>' if quote == 0 => {
                return (i != 0 && window.get(i.wrapping_sub(1)) == Some(&b'/'))
                    .then_some(i.wrapping_add(2));
            }
            _ => {}
        }
    }
    None
}

impl Lexer {
    /// Reads `tag` (at body offset `at`), an empty element `readable` found, the ordinary
    /// way, `depth` elements open (written first): true when reading it left the walk's
    /// state as it found it (in `Text`, the same open elements, declarations and
    /// `shadow`), so the walk may go on. What it reports is reported as it is read, at every
    /// walk; what follows it is then what followed it when it was learnt (reading the same
    /// bytes from the same state does the same). A run never holds it.
    pub(super) fn read_whole<S: Sink>(
        &mut self,
        chunk: &[u8],
        tag: &[u8],
        at: u64,
        depth: &mut usize,
        sink: &mut S,
    ) -> Result<bool, Malformed> {
        self.end_track(chunk);
        self.materialize(*depth);
        let before = (
            self.frames.len(),
            self.names.len(),
            self.bindings.len(),
            self.shadow,
        );
        self.replay.recording = true;
        let read = self.lex(tag, at, sink);
        self.replay.recording = false;
        *depth = self.frames.len();
        self.replay.named = *depth;
        read?;
        Ok(self.state == State::Text
            && self.deep == 0
            && !self.unnamed
            && !self.declaring
            && (
                self.frames.len(),
                self.names.len(),
                self.bindings.len(),
                self.shadow,
            ) == before)
    }

    /// Reads `tag` (at body offset `at`) the ordinary way, recording what it does; adds it
    /// as a child of `node` when it has a shape the trie replays and there is room. Errors
    /// are those reading it gives.
    pub(super) fn learn<S: Sink>(
        &mut self,
        node: u32,
        tag: &[u8],
        at: u64,
        sink: &mut S,
    ) -> Result<Option<u32>, Malformed> {
        let depth = self.frames.len();
        let bindings = self.bindings.len();
        let unbound = self.unbound;
        let parent = self.frames.last().map(|f| f.role);
        let mut rec = Recorder {
            sink,
            log: Recorded::default(),
        };
        self.replay.recording = true;
        let read = self.lex(tag, at, &mut rec);
        self.replay.recording = false;
        read?;
        let log = rec.log;
        if self.state != State::Text
            || self.deep != 0
            || self.unnamed
            || log.count > log.calls.len()
            || !self.replay.room(
                node,
                tag.len()
                    .saturating_add(log.uri.len())
                    .saturating_add(log.local.len()),
            )
        {
            return Ok(None);
        }
        let effect = if tag.get(1) == Some(&b'/') {
            if self.frames.len().wrapping_add(1) != depth {
                return Ok(None);
            }
            Effect::End {
                role: parent.unwrap_or(Role::Skip),
            }
        } else {
            let empty = tag.ends_with(b"/>");
            let name = tag
                .iter()
                .skip(1)
                .position(|&b| b == b'>' || b == b'/' || is_ws(b))
                .map_or(0, offset);
            let calls = log.calls.get(..log.count).unwrap_or_default();
            let (report, calls) = match calls {
                [Some(Call::Report(r)), rest @ ..] => (*r, rest),
                _ => (Report::None, calls),
            };
            let role = match (calls, empty) {
                ([], _) => Role::Skip,
                ([Some(Call::Start(r))], false) => *r,
                ([Some(Call::Start(r)), Some(Call::End(e))], true) if r == e => *r,
                _ => return Ok(None),
            };
            let opened = if empty { depth } else { depth.wrapping_add(1) };
            let after = self.frames.get(depth.wrapping_sub(1)).map(|f| f.role);
            if self.frames.len() != opened
                || self.bindings.len() != bindings
                || (!empty && self.frames.last().map(|f| f.role) != Some(role))
                || self.unbound.wrapping_sub(unbound) > 1
            {
                return Ok(None);
            }
            Effect::Start {
                role,
                empty,
                name,
                report,
                parent: (after != parent).then_some(after).flatten(),
                unbound: self.unbound != unbound,
            }
        };
        Ok(Some(self.replay.add(node, tag, &log, effect)))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::{TAG, readable, recordable};

    /// `readable`: an empty element through its first `>` outside quotes, within `TAG`
    /// bytes, no `<`, not an end tag, comment, declaration or instruction.
    #[test]
    fn readable_is_an_empty_element_through_its_first_gt_outside_quotes() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"<a b=\"c\"/>x", Some(10)),
            (b"<a/>", Some(4)),
            (b"<a b=\"1>2\"/>", Some(12)),
            (b"<a b='x\"'/>", Some(11)),
            (b"<a b=\"x'\" c='y\"'/>", Some(18)),
            (b"<a b=\"c\">", None),
            (b"<a b=\"c/>\">", None),
            (b"<a b=\"c\"/", None),
            (b"<a b=\"/>", None),
            (b"</a b=\"c\"/>", None),
            (b"<!a b=\"c\"/>", None),
            (b"<?a b=\"c\"/>", None),
            (b"<a <b/>", None),
            (b"<a b=\"<\"/>", None),
            (b"<>", None),
            (b"<", None),
        ];
        for &(s, want) in cases {
            assert_eq!(readable(s), want, "{}", String::from_utf8_lossy(s));
        }
        // Within `TAG` bytes, its `>` included.
        for len in TAG - 4..TAG + 4 {
            let mut s = b"<a b=\"".to_vec();
            s.resize(len - 3, b'x');
            s.extend_from_slice(b"\"/>");
            assert_eq!(readable(&s), (len <= TAG).then_some(len), "{len}");
        }
    }

    /// `recordable` is the byte loops it replaced: the first `>` within `TAG` bytes, no
    /// quote or `<` before it, no `<!`/`<?`; at every length and with each byte class at
    /// every place.
    #[test]
    fn recordable_is_the_first_gt_with_no_quote_or_lt_before_it() {
        let plain = |s: &[u8]| {
            if matches!(s.get(1), Some(b'!' | b'?') | None) {
                return None;
            }
            let window = s.get(1..TAG.min(s.len()))?;
            let end = window.iter().position(|&b| b == b'>')?;
            let inner = window.get(..end)?;
            if inner.iter().any(|&b| matches!(b, b'"' | b'\'' | b'<')) {
                return None;
            }
            end.checked_add(2)
        };
        let mut base = b"<a:b c".to_vec();
        base.resize(TAG + 8, b'x');
        for len in 0..base.len() {
            for at in 0..len {
                for b in [b'>', b'"', b'\'', b'<', b'!', b'?', b' '] {
                    let mut s = base[..len].to_vec();
                    s[at] = b;
                    assert_eq!(recordable(&s), plain(&s), "{s:?}");
                    if at + 1 < len {
                        s[len - 1] = b'>';
                        assert_eq!(recordable(&s), plain(&s), "{s:?}");
                    }
                }
            }
        }
    }
}
