//! The texts an entry keeps for its failures until it knows whether it has any: hrefs
//! ([`TextList`]), an error child's name and a description ([`Slot`]); property names are
//! kept by `props`. Kept as bytes in buffers reused from one entry to the next (no allocation per
//! entry); turned into `String`s only when a failure is built, which most entries never need.

use super::limits::push_capped;

/// `bytes` as a `String`, invalid UTF-8 replaced (never the case for text the lexer passed).
pub(super) fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// [`lossy`] into `out`, which keeps its allocation when large enough (a recycled failure).
pub(super) fn lossy_into(bytes: &[u8], out: &mut String) {
    out.clear();
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// A text kept for a failure (an error child's name, a description): set once, trimmed and
/// capped.
#[derive(Debug, Default)]
pub(super) struct Slot {
    set: bool,
    bytes: Vec<u8>,
}

impl Slot {
    pub(super) fn clear(&mut self) {
        self.set = false;
        self.bytes.clear();
    }

    pub(super) fn is_set(&self) -> bool {
        self.set
    }

    /// Keeps `bytes` (trimmed, capped at `cap` on a character boundary) unless a text was
    /// kept already.
    pub(super) fn set_once(&mut self, bytes: &[u8], cap: usize) {
        if !self.set {
            self.set = true;
            self.bytes.clear();
            push_capped(&mut self.bytes, bytes.trim_ascii(), cap);
        }
    }

    pub(super) fn to_option(&self) -> Option<String> {
        self.set.then(|| lossy(&self.bytes))
    }

    /// [`Slot::to_option`] into `out`, reusing the string it holds.
    pub(super) fn fill(&self, out: &mut Option<String>) {
        match (self.set, out.as_mut()) {
            (true, Some(text)) => lossy_into(&self.bytes, text),
            _ => *out = self.to_option(),
        }
    }
}

/// A list of short texts kept for a failure (hrefs): the first ones whose bytes sum to at
/// most `max_text` (the first always, itself capped), at most `max` of them; `count` counts
/// them all.
#[derive(Debug, Default)]
pub(super) struct TextList {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// No more are kept (one did not fit).
    pub(super) full: bool,
    pub(super) count: u64,
}

impl TextList {
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.full = false;
        self.count = 0;
    }

    /// Keeps `text` (trimmed by the caller, a whole UTF-8 sequence) if it fits; the first
    /// one is cut at `max_text` on a character boundary.
    pub(super) fn push(&mut self, text: &[u8], max_text: usize, max: usize) {
        self.count = self.count.saturating_add(1);
        let first = self.ends.is_empty();
        let fits = self.bytes.len().saturating_add(text.len()) <= max_text && self.ends.len() < max;
        if !self.full && (first || fits) {
            let cap = self.bytes.len().saturating_add(max_text);
            push_capped(&mut self.bytes, text, cap);
            self.ends.push(self.bytes.len());
        } else {
            self.full = true;
        }
    }

    /// `push` of `text.trim_ascii()` that takes `text`'s buffer for the first one (the
    /// same bytes kept: none cut, as it fits), leaving its own, empty, in its place.
    pub(super) fn push_owned(&mut self, text: &mut Vec<u8>, max_text: usize, max: usize) {
        if self.ends.is_empty()
            && !self.full
            && text.len() <= max_text
            && text.first().is_some_and(|b| !b.is_ascii_whitespace())
        {
            self.count = self.count.saturating_add(1);
            self.bytes.clear();
            std::mem::swap(&mut self.bytes, text);
            let len = self.bytes.trim_ascii_end().len();
            self.bytes.truncate(len);
            self.ends.push(len);
            return;
        }
        self.push(text.trim_ascii(), max_text, max);
    }

    #[cfg(test)]
    pub(super) fn to_vec(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.ends.len());
        self.fill(&mut out);
        out
    }

    /// [`TextList::to_vec`] into `out`, reusing the strings it holds.
    pub(super) fn fill(&self, out: &mut Vec<String>) {
        out.truncate(self.ends.len());
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            let text = self.bytes.get(start..end).unwrap_or_default();
            match out.get_mut(i) {
                Some(kept) => lossy_into(text, kept),
                None => out.push(lossy(text)),
            }
            start = end;
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use crate::multistatus::lexer::same;

    proptest::proptest! {
        #[test]
        fn same_is_byte_equality(
            a in proptest::collection::vec(0u8..3, 0..40),
            b in proptest::collection::vec(0u8..3, 0..40),
        ) {
            proptest::prop_assert_eq!(same(&a, &b), a == b);
            proptest::prop_assert!(same(&a, &a.clone()));
        }

        /// Taking the buffer of the text keeps what `push` of the trimmed text keeps, list
        /// after list, whatever the buffers held before.
        #[test]
        fn push_owned_keeps_what_push_keeps(
            lists in proptest::collection::vec(
                proptest::collection::vec("[ \t\na-zé]{0,12}", 0..4), 1..5),
            max_text in 0usize..16,
            max in 0usize..4,
        ) {
            let (mut owned, mut reference) = (super::TextList::default(), super::TextList::default());
            let mut buf = b"left over".to_vec();
            for texts in &lists {
                owned.clear();
                reference.clear();
                for text in texts {
                    buf.clear();
                    crate::multistatus::limits::push_capped(&mut buf, text.as_bytes(), max_text);
                    reference.push(buf.trim_ascii(), max_text, max);
                    owned.push_owned(&mut buf, max_text, max);
                }
                proptest::prop_assert_eq!(owned.to_vec(), reference.to_vec());
                proptest::prop_assert_eq!(owned.count, reference.count);
            }
        }
    }
}
