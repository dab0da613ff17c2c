//! The property names of a failing `DAV:propstat` ([`PropList`]), kept as each `DAV:prop`
//! is read until its status says whether a failure needs them: as indices in a table of the
//! names met in the body ([`NameTable`]), and matched against the last two lists, which a
//! body repeats entry after entry.

use super::lexer::same;
use super::limits::push_capped;
use super::texts::lossy;

/// Distinct namespace URIs remembered per body for property names, and their bytes; past
/// either, a name is kept spelled out.
const MAX_URIS: usize = 16;
const MAX_URI_BYTES: usize = 2048;

/// Distinct property names remembered per body, and the bytes of their local parts; past
/// either, a name is kept spelled out.
const MAX_NAMES: usize = 256;
const MAX_NAME_BYTES: usize = 8192;
/// Slots of the hash index of the names (a power of two, twice `MAX_NAMES`).
const NAME_SLOTS: usize = 512;
/// No name (an empty slot of the index, no previous name).
const NO_NAME: u16 = u16::MAX;

/// A property name remembered for the body: its local part (`NameTable::bytes[start..end]`),
/// its namespace URI (`NameTable::uri_bytes[uri_start..uri_end]`, empty for none), and the
/// name that followed it last time (`next`), the guess for the name after it.
#[derive(Debug, Clone, Copy)]
struct Name {
    start: u32,
    end: u32,
    uri_start: u32,
    uri_end: u32,
    next: u16,
    /// The lexer's token for this name, when last reported with one (0: none).
    token: u64,
}

/// The property names met in a body, each kept once: a `DAV:prop` lists the same names in
/// the same order entry after entry, so the next name is first looked for where the one
/// before it led last time (one compare of the local name and of the URI), then in a hash
/// index, and added if new.
#[derive(Debug)]
struct NameTable {
    bytes: Vec<u8>,
    names: Vec<Name>,
    /// The URIs met so far, one after another, with their ends.
    uri_bytes: Vec<u8>,
    uri_ends: Vec<usize>,
    /// Where the URI last found sits in `uri_bytes` (most names share one namespace); an
    /// empty range before the first.
    last_uri: (usize, usize),
    /// The name that began a list last time.
    first: u16,
    /// Open addressing, by `hash`: indices in `names`.
    index: Vec<u16>,
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable {
            bytes: Vec::new(),
            names: Vec::new(),
            uri_bytes: Vec::new(),
            uri_ends: Vec::new(),
            last_uri: (0, 0),
            first: NO_NAME,
            index: Vec::new(),
        }
    }
}

/// A hash of a property name (local part and URI): a few words of each, mixed.
fn hash(uri: &[u8], local: &[u8]) -> usize {
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        let part = s.get(at..).unwrap_or_default();
        let n = part.len().min(8);
        if let (Some(dst), Some(src)) = (w.get_mut(..n), part.get(..n)) {
            dst.copy_from_slice(src);
        }
        u64::from_le_bytes(w)
    };
    let mut h = (local.len() as u64) ^ (uri.len() as u64).wrapping_shl(16);
    for w in [
        word(local, 0),
        word(local, local.len().saturating_sub(8)),
        word(uri, uri.len().saturating_sub(8)),
    ] {
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h.wrapping_shr(29);
    }
    h as usize
}

impl NameTable {
    fn local(&self, n: &Name) -> &[u8] {
        self.bytes
            .get(n.start as usize..n.end as usize)
            .unwrap_or_default()
    }

    fn uri(&self, n: &Name) -> &[u8] {
        self.uri_bytes
            .get(n.uri_start as usize..n.uri_end as usize)
            .unwrap_or_default()
    }

    #[inline]
    fn is(&self, id: u16, uri: &[u8], local: &[u8]) -> bool {
        self.names
            .get(usize::from(id))
            .is_some_and(|n| same(self.local(n), local) && same(self.uri(n), uri))
    }

    /// The id of the name (`uri`, `local`) that follows `prev` (`NO_NAME`: the first of a
    /// list), adding it if there is room; `None` past the table's bounds.
    #[inline]
    fn find(&mut self, prev: u16, uri: &[u8], local: &[u8]) -> Option<u16> {
        let guess = match self.names.get(usize::from(prev)) {
            Some(p) => p.next,
            None => self.first,
        };
        if self.is(guess, uri, local) {
            return Some(guess);
        }
        let id = self.find_slow(uri, local)?;
        match self.names.get_mut(usize::from(prev)) {
            Some(p) => p.next = id,
            None => self.first = id,
        }
        Some(id)
    }

    /// `find` for a name reported with the lexer's `token`: the guess is taken when it
    /// carries the same token, without looking at the bytes.
    #[inline]
    fn find_token(&mut self, prev: u16, token: u64, uri: &[u8], local: &[u8]) -> Option<u16> {
        let guess = match self.names.get(usize::from(prev)) {
            Some(p) => p.next,
            None => self.first,
        };
        if self
            .names
            .get(usize::from(guess))
            .is_some_and(|n| n.token == token)
        {
            return Some(guess);
        }
        let id = self.find(prev, uri, local)?;
        if let Some(n) = self.names.get_mut(usize::from(id)) {
            n.token = token;
        }
        Some(id)
    }

    fn find_slow(&mut self, uri: &[u8], local: &[u8]) -> Option<u16> {
        if self.index.is_empty() {
            self.index = vec![NO_NAME; NAME_SLOTS];
        }
        let mask = NAME_SLOTS.wrapping_sub(1);
        let mut slot = hash(uri, local) & mask;
        loop {
            let id = *self.index.get(slot)?;
            if id == NO_NAME {
                break;
            }
            if self.is(id, uri, local) {
                return Some(id);
            }
            slot = slot.wrapping_add(1) & mask;
        }
        // Not met before: add it (`slot` is the empty slot it goes in).
        if self.names.len() >= MAX_NAMES
            || self.bytes.len().saturating_add(local.len()) > MAX_NAME_BYTES
        {
            return None;
        }
        let (uri_start, uri_end) = if uri.is_empty() {
            (0, 0)
        } else {
            self.uri_range(uri)?
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(local);
        let id = u16::try_from(self.names.len()).ok()?;
        self.names.push(Name {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(self.bytes.len()).ok()?,
            uri_start: u32::try_from(uri_start).ok()?,
            uri_end: u32::try_from(uri_end).ok()?,
            next: NO_NAME,
            token: 0,
        });
        if let Some(s) = self.index.get_mut(slot) {
            *s = id;
        }
        Some(id)
    }

    /// Where `uri` sits in the URI table, adding it if there is room.
    fn uri_range(&mut self, uri: &[u8]) -> Option<(usize, usize)> {
        let (start, end) = self.last_uri;
        if end != 0 && same(self.uri_bytes.get(start..end).unwrap_or_default(), uri) {
            return Some((start, end));
        }
        let mut from = 0;
        let mut found = None;
        for &to in &self.uri_ends {
            if same(self.uri_bytes.get(from..to).unwrap_or_default(), uri) {
                found = Some((from, to));
                break;
            }
            from = to;
        }
        let range = match found {
            Some(r) => r,
            None if self.uri_ends.len() < MAX_URIS
                && self.uri_bytes.len().saturating_add(uri.len()) <= MAX_URI_BYTES =>
            {
                let start = self.uri_bytes.len();
                self.uri_bytes.extend_from_slice(uri);
                self.uri_ends.push(self.uri_bytes.len());
                (start, self.uri_bytes.len())
            }
            None => return None,
        };
        self.last_uri = range;
        Some(range)
    }

    /// The name `id` in Clark notation.
    fn spell(&self, id: u16, out: &mut Vec<u8>) {
        let Some(n) = self.names.get(usize::from(id)) else {
            return;
        };
        let uri = self.uri(n);
        if !uri.is_empty() {
            out.push(b'{');
            out.extend_from_slice(uri);
            out.push(b'}');
        }
        out.extend_from_slice(self.local(n));
    }
}

/// A kept property name: one of the body's [`NameTable`], or spelled out in
/// `Names::bytes` up to this end.
#[derive(Debug, Clone, Copy)]
enum Item {
    Name(u16),
    Spelled(u32),
}

/// The items of a property list, with what matching them needs: for each, the lexer's
/// token for its name (0: none, never matched) and the bytes it added to
/// `PropList::spelled`; the names spelled out, one after another.
#[derive(Debug, Default)]
struct Names {
    items: Vec<Item>,
    memo: Vec<(u64, usize)>,
    bytes: Vec<u8>,
}

impl Names {
    /// The token of item `i` (0 past the end).
    fn token(&self, i: usize) -> u64 {
        self.memo.get(i).map_or(0, |m| m.0)
    }
}

/// The property names of one `DAV:prop`, in Clark notation (`{uri}local`, or `local` alone
/// in no namespace), kept like a `TextList`: the first ones whose Clark spellings sum to
/// at most `max_text` bytes (the first always, itself capped), at most `max` of them;
/// `count` counts them all. A name is kept as its index in a table that lives as long as
/// the body (see [`NameTable`]), so the common property costs a compare and a push of a
/// small integer; `{uri}local` is spelled out only when a failure lists the names (or, in
/// the list itself, for a name cut at `max_text` or past the table's bounds).
///
/// A `DAV:prop` lists the names of one of the last two lists, mostly (a 200 propstat and a
/// 404 one, entry after entry): their items stay when a new list starts (`list`, the last,
/// and `other`), and a name whose token is the one of the item at `kept` (same limits)
/// takes that item as it is. It is the item pushing the name would give: a token names one
/// name, and all the push reads (the items before it, the limits) is the same. The first
/// name that differs drops the rest of that list.
#[derive(Debug, Default)]
pub(super) struct PropList {
    /// The items of this list (`..kept`), then the rest of the list it matched.
    list: Names,
    /// The list before the last one.
    other: Names,
    kept: usize,
    /// `max_text` and `max` of the pushes that kept the items that may be matched.
    limits: (usize, usize),
    /// Bytes the kept names take spelled out (what a `TextList` of them would hold).
    spelled: usize,
    /// No more are kept (one did not fit).
    full: bool,
    pub(super) count: u64,
    /// The last name found in the table for this list (the guess for the next follows it).
    prev: Option<u16>,
    table: NameTable,
}

impl PropList {
    /// Starts a new list; the table of names is kept, and the last lists to match.
    pub(super) fn clear(&mut self) {
        self.kept = 0;
        self.spelled = 0;
        self.full = false;
        self.count = 0;
        self.prev = None;
    }

    /// A name past the lexer's bounds: counted, and no later one is kept (the list keeps a
    /// prefix of the names, in order).
    pub(super) fn push_unnamed(&mut self) {
        self.count = self.count.saturating_add(1);
        self.full = true;
    }

    /// Keeps the name `local` in namespace `uri` (empty: none) if it fits.
    #[cfg(test)]
    pub(super) fn push(&mut self, uri: &[u8], local: &[u8], max_text: usize, max: usize) {
        self.push_token(0, uri, local, max_text, max);
    }

    /// `push` with the lexer's token for the name (0: none; see `Sink::prop_token`).
    #[inline(always)]
    pub(super) fn push_token(
        &mut self,
        token: u64,
        uri: &[u8],
        local: &[u8],
        max_text: usize,
        max: usize,
    ) {
        if token != 0
            && !self.full
            && self.limits == (max_text, max)
            && let Some(&(t, len)) = self.list.memo.get(self.kept)
            && t == token
        {
            self.count = self.count.saturating_add(1);
            self.kept = self.kept.saturating_add(1);
            self.spelled = self.spelled.saturating_add(len);
            return;
        }
        self.push_new(token, uri, local, max_text, max);
    }

    /// `push_token` for a name the last list did not have at this place.
    #[inline(never)]
    fn push_new(&mut self, token: u64, uri: &[u8], local: &[u8], max_text: usize, max: usize) {
        if self.limits != (max_text, max) {
            // Items kept under other limits are never matched.
            self.limits = (max_text, max);
            for m in self.list.memo.iter_mut().chain(&mut self.other.memo) {
                m.0 = 0;
            }
        }
        if self.kept == 0 && !self.full {
            // A list that is not the last one: the one before it, or a new one (the last
            // becomes the one before).
            std::mem::swap(&mut self.list, &mut self.other);
            if token != 0 && self.list.token(0) == token {
                return self.push_token(token, uri, local, max_text, max);
            }
        }
        self.count = self.count.saturating_add(1);
        if self.full {
            return;
        }
        self.leave_last();
        let braces = if uri.is_empty() { 0 } else { 2 };
        let len = local.len().saturating_add(uri.len()).saturating_add(braces);
        let first = self.kept == 0;
        let fits = self.spelled.saturating_add(len) <= max_text && self.kept < max;
        if !(first || fits) {
            self.full = true;
            return;
        }
        let prev = self.prev.unwrap_or(NO_NAME);
        let found = if token == 0 {
            self.table.find(prev, uri, local)
        } else {
            self.table.find_token(prev, token, uri, local)
        };
        if len <= max_text
            && let Some(id) = found
        {
            self.list.items.push(Item::Name(id));
            self.list.memo.push((token, len));
            self.kept = self.list.items.len();
            self.prev = Some(id);
            self.spelled = self.spelled.saturating_add(len);
            return;
        }
        let added = self.push_spelled(uri, local, max_text);
        self.list.memo.push((token, added));
        self.kept = self.list.items.len();
    }

    /// Drops the items of the list past this one's (`kept`), and the names they spelled
    /// out; the guess for the next name follows this list's last one (items matched leave
    /// it behind).
    fn leave_last(&mut self) {
        let list = &mut self.list;
        if list.items.len() == self.kept && (self.prev.is_some() || self.kept == 0) {
            return;
        }
        list.items.truncate(self.kept);
        list.memo.truncate(self.kept);
        let mut end = 0;
        self.prev = None;
        for item in &list.items {
            match *item {
                Item::Name(id) => self.prev = Some(id),
                Item::Spelled(e) => end = e as usize,
            }
        }
        list.bytes.truncate(end);
    }

    /// Keeps a name spelled out in the list: one cut at `max_text`, or past the table's
    /// bounds. Returns the bytes it adds to `spelled`.
    #[cold]
    fn push_spelled(&mut self, uri: &[u8], local: &[u8], max_text: usize) -> usize {
        let bytes = &mut self.list.bytes;
        let start = bytes.len();
        let cap = start.saturating_add(max_text);
        let parts: [&[u8]; 4] = if uri.is_empty() {
            [local, b"", b"", b""]
        } else {
            [b"{", uri, b"}", local]
        };
        for part in parts {
            if !push_capped(bytes, part, cap) {
                break;
            }
        }
        let added = bytes.len().saturating_sub(start);
        self.list.items.push(Item::Spelled(
            u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        ));
        self.spelled = self.spelled.saturating_add(added);
        added
    }

    pub(super) fn to_vec(&self) -> Vec<String> {
        let mut start = 0usize;
        let items = self.list.items.get(..self.kept).unwrap_or_default();
        let mut out = Vec::with_capacity(items.len());
        let mut spelled = Vec::new();
        for &item in items {
            match item {
                Item::Name(id) => {
                    spelled.clear();
                    self.table.spell(id, &mut spelled);
                    out.push(lossy(&spelled));
                }
                Item::Spelled(end) => {
                    let end = end as usize;
                    out.push(lossy(self.list.bytes.get(start..end).unwrap_or_default()));
                    start = end;
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
    use crate::multistatus::texts::TextList;

    proptest::proptest! {
        /// Lists that repeat the names of the last list or the one before, in part or
        /// whole, under limits that change now and then, keep what a `TextList` of the
        /// spelled-out names keeps: an item taken from an earlier list is never a stale one.
        #[test]
        fn prop_lists_that_repeat_earlier_ones_keep_their_own_names(
            lists in proptest::collection::vec(
                (proptest::collection::vec(0usize..6, 0..8), 0usize..4, 0usize..6), 1..12),
            max_text in proptest::sample::select(vec![4usize, 12, 30, 1024]),
            max in 1usize..8,
        ) {
            let names: [(&str, &str); 6] = [
                ("DAV:", "getetag"), ("DAV:", "getlastmodified"), ("", "x"),
                ("http://x/ns", "checksums"), ("DAV:", "a"), ("urn:é", "é"),
            ];
            let mut list = PropList::default();
            let mut reference = TextList::default();
            let mut before: Vec<Vec<usize>> = Vec::new();
            for (fresh, from, limits) in &lists {
                // A repeat of the last list or the one before, cut and continued, or new.
                let mut picks: Vec<usize> = match (from, before.len()) {
                    (1, n) if n >= 1 => before[n - 1].clone(),
                    (2, n) if n >= 2 => before[n - 2].clone(),
                    _ => Vec::new(),
                };
                picks.truncate(fresh.len());
                picks.extend(fresh.iter().skip(picks.len()).copied());
                let (max_text, max) = if *limits == 0 { (max_text / 2, max + 1) } else { (max_text, max) };
                list.clear();
                reference.clear();
                for &i in &picks {
                    let (uri, local) = names[i];
                    // One token per name; none for the last one.
                    let token = if i == 5 { 0 } else { i as u64 + 1 };
                    list.push_token(token, uri.as_bytes(), local.as_bytes(), max_text, max);
                    let spelled = if uri.is_empty() {
                        local.to_owned()
                    } else {
                        format!("{{{uri}}}{local}")
                    };
                    reference.push(spelled.as_bytes(), max_text, max);
                }
                proptest::prop_assert_eq!(list.to_vec(), reference.to_vec(), "{:?}", picks);
                proptest::prop_assert_eq!(list.count, reference.count);
                before.push(picks);
            }
        }

        /// The property list keeps what a `TextList` of the spelled-out names keeps.
        #[test]
        fn prop_list_matches_spelling_every_name_out(
            names in proptest::collection::vec(
                (proptest::sample::select(vec!["", "DAV:", "urn:é", "http://x/ns"]),
                 "[a-zé]{1,6}"),
                0..24),
            uris in 1usize..20,
            fill in proptest::sample::select(vec![0usize, 3, 250, 254, 255, 256, 300]),
            max_text in 0usize..40,
            max in 0usize..8,
        ) {
            let mut list = PropList::default();
            let mut reference = TextList::default();
            // A URI table near or past its limit.
            for i in 0..uris {
                list.table.uri_range(format!("urn:fill{i}").as_bytes());
            }
            // A name table near or past its limit.
            for i in 0..fill {
                list.push(b"", format!("fill{i}").as_bytes(), usize::MAX, usize::MAX);
                list.clear();
            }
            // The lexer's tokens: one per name, renewed now and then; none for some.
            let mut tokens = std::collections::HashMap::new();
            for round in 0..3 {
                list.clear();
                reference.clear();
                for (i, (uri, local)) in names.iter().enumerate() {
                    if round == 1 && i % 7 == 3 {
                        list.push_unnamed();
                        reference.count += 1;
                        reference.full = true;
                        continue;
                    }
                    let fresh = tokens.len() as u64 + 1;
                    let token = tokens.entry((uri, local.clone())).or_insert(fresh);
                    if (i + round) % 5 == 4 {
                        *token = 1000 * (round as u64 + 1) + i as u64;
                    }
                    let token = if (i + round) % 3 == 2 { 0 } else { *token };
                    list.push_token(token, uri.as_bytes(), local.as_bytes(), max_text, max);
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
