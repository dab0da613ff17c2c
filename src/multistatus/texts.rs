//! The texts an entry keeps for its failures until it knows whether it has any: hrefs
//! ([`TextList`]), property names ([`PropList`]), an error child's name and a description
//! ([`Slot`]). Kept as bytes in buffers reused from one entry to the next (no allocation per
//! entry); turned into `String`s only when a failure is built, which most entries never need.

use super::lexer::same;
use super::limits::push_capped;

/// `bytes` as a `String`, invalid UTF-8 replaced (never the case for text the lexer passed).
pub(super) fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
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
}

/// A list of short texts kept for a failure (hrefs): the first ones whose bytes sum to at
/// most `max_text` (the first always, itself capped), at most `max` of them; `count` counts
/// them all.
#[derive(Debug, Default)]
pub(super) struct TextList {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// No more are kept (one did not fit).
    full: bool,
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

    pub(super) fn to_vec(&self) -> Vec<String> {
        let mut start = 0;
        let mut out = Vec::with_capacity(self.ends.len());
        for &end in &self.ends {
            out.push(lossy(self.bytes.get(start..end).unwrap_or_default()));
            start = end;
        }
        out
    }
}

/// No namespace: the kept bytes are the name as reported (see `PropList::items`).
const NO_URI: u16 = u16::MAX;

/// Distinct namespace URIs remembered per body for property names, and their bytes; past
/// either, a name is kept spelled out.
const MAX_URIS: usize = 16;
const MAX_URI_BYTES: usize = 2048;

/// The property names of one `DAV:prop`, in Clark notation (`{uri}local`, or `local` alone
/// in no namespace), kept like a [`TextList`]: the first ones whose Clark spellings sum to
/// at most `max_text` bytes (the first always, itself capped), at most `max` of them;
/// `count` counts them all. A name is kept as its local part plus the index of its
/// namespace URI in a table that lives as long as the body, so the common property costs
/// one short copy, and `{uri}` is spelled out only when a failure lists the names.
#[derive(Debug, Default)]
pub(super) struct PropList {
    /// The kept local names (or whole spellings, see `items`), one after another.
    bytes: Vec<u8>,
    /// Per kept name: where it ends in `bytes` and its URI's index in `uris` (`NO_URI`: the
    /// bytes are the whole spelling).
    items: Vec<(usize, u16)>,
    /// Bytes the kept names take spelled out (what a `TextList` of them would hold).
    spelled: usize,
    /// No more are kept (one did not fit).
    full: bool,
    pub(super) count: u64,
    /// The URIs met so far in this body, one after another, with their ends.
    uri_bytes: Vec<u8>,
    uri_ends: Vec<usize>,
    /// Where the URI last found sits in `uri_bytes`, and its index (most names share one
    /// namespace); an empty range before the first.
    last_uri: (usize, usize, u16),
}

impl PropList {
    /// Starts a new list; the URI table is kept.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
        self.spelled = 0;
        self.full = false;
        self.count = 0;
    }

    /// A name past the lexer's bounds: counted, and no later one is kept (the list keeps a
    /// prefix of the names, in order).
    pub(super) fn push_unnamed(&mut self) {
        self.count = self.count.saturating_add(1);
        self.full = true;
    }

    fn uri(&self, i: usize) -> Option<&[u8]> {
        let start = match i.checked_sub(1) {
            Some(prev) => *self.uri_ends.get(prev)?,
            None => 0,
        };
        self.uri_bytes.get(start..*self.uri_ends.get(i)?)
    }

    /// The index of `uri` in the table, adding it if there is room.
    #[inline]
    fn uri_index(&mut self, uri: &[u8]) -> Option<u16> {
        let (start, end, index) = self.last_uri;
        if end != 0 && same(self.uri_bytes.get(start..end).unwrap_or_default(), uri) {
            return Some(index);
        }
        self.uri_index_slow(uri)
    }

    fn uri_index_slow(&mut self, uri: &[u8]) -> Option<u16> {
        let found = (0..self.uri_ends.len()).find(|&i| self.uri(i).is_some_and(|u| same(u, uri)));
        let i = match found {
            Some(i) => i,
            None if self.uri_ends.len() < MAX_URIS
                && self.uri_bytes.len().saturating_add(uri.len()) <= MAX_URI_BYTES =>
            {
                self.uri_bytes.extend_from_slice(uri);
                self.uri_ends.push(self.uri_bytes.len());
                self.uri_ends.len().saturating_sub(1)
            }
            None => return None,
        };
        let index = u16::try_from(i).ok()?;
        let end = *self.uri_ends.get(i)?;
        self.last_uri = (end.saturating_sub(uri.len()), end, index);
        Some(index)
    }

    /// Keeps the name `local` in namespace `uri` (empty: none) if it fits.
    pub(super) fn push(&mut self, uri: &[u8], local: &[u8], max_text: usize, max: usize) {
        self.count = self.count.saturating_add(1);
        let braces = if uri.is_empty() { 0 } else { 2 };
        let len = local.len().saturating_add(uri.len()).saturating_add(braces);
        let first = self.items.is_empty();
        let fits = self.spelled.saturating_add(len) <= max_text && self.items.len() < max;
        if self.full || !(first || fits) {
            self.full = true;
            return;
        }
        let index = if uri.is_empty() || len > max_text {
            None
        } else {
            self.uri_index(uri)
        };
        if let Some(index) = index {
            self.bytes.extend_from_slice(local);
            self.items.push((self.bytes.len(), index));
            self.spelled = self.spelled.saturating_add(len);
            return;
        }
        // Spelled out: no namespace, a name cut at `max_text`, or a full URI table.
        let start = self.bytes.len();
        let cap = start.saturating_add(max_text);
        let parts: [&[u8]; 4] = if uri.is_empty() {
            [local, b"", b"", b""]
        } else {
            [b"{", uri, b"}", local]
        };
        for part in parts {
            if !push_capped(&mut self.bytes, part, cap) {
                break;
            }
        }
        self.items.push((self.bytes.len(), NO_URI));
        self.spelled = self
            .spelled
            .saturating_add(self.bytes.len().saturating_sub(start));
    }

    pub(super) fn to_vec(&self) -> Vec<String> {
        let mut start = 0;
        let mut out = Vec::with_capacity(self.items.len());
        let mut spelled = Vec::new();
        for &(end, uri) in &self.items {
            let kept = self.bytes.get(start..end).unwrap_or_default();
            start = end;
            match self.uri(usize::from(uri)).filter(|_| uri != NO_URI) {
                None => out.push(lossy(kept)),
                Some(uri) => {
                    spelled.clear();
                    spelled.push(b'{');
                    spelled.extend_from_slice(uri);
                    spelled.push(b'}');
                    spelled.extend_from_slice(kept);
                    out.push(lossy(&spelled));
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn same_is_byte_equality(
            a in proptest::collection::vec(0u8..3, 0..40),
            b in proptest::collection::vec(0u8..3, 0..40),
        ) {
            proptest::prop_assert_eq!(same(&a, &b), a == b);
            proptest::prop_assert!(same(&a, &a.clone()));
        }

        /// The property list keeps what a `TextList` of the spelled-out names keeps.
        #[test]
        fn prop_list_matches_spelling_every_name_out(
            names in proptest::collection::vec(
                (proptest::sample::select(vec!["", "DAV:", "urn:é", "http://x/ns"]),
                 "[a-zé]{1,6}"),
                0..24),
            uris in 1usize..20,
            max_text in 0usize..40,
            max in 0usize..8,
        ) {
            let mut list = PropList::default();
            let mut reference = TextList::default();
            // A URI table near or past its limit.
            for i in 0..uris {
                list.uri_index(format!("urn:fill{i}").as_bytes());
            }
            for round in 0..2 {
                list.clear();
                reference.clear();
                for (i, (uri, local)) in names.iter().enumerate() {
                    if round == 1 && i % 7 == 3 {
                        list.push_unnamed();
                        reference.count += 1;
                        reference.full = true;
                        continue;
                    }
                    list.push(uri.as_bytes(), local.as_bytes(), max_text, max);
                    let spelled = if uri.is_empty() {
                        local.clone()
                    } else {
                        format!("{{{uri}}}{local}")
                    };
                    reference.push(spelled.as_bytes(), max_text, max);
                }
                proptest::prop_assert_eq!(list.to_vec(), reference.to_vec());
                proptest::prop_assert_eq!(list.count, reference.count);
            }
        }
    }
}
