//! The lexer's resumable state: where in the markup the last chunk ended (`State`, with its
//! `<!` and DOCTYPE sub-states) and where the document is relative to its root (`Root`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bang {
    Unknown,
    Comment,
    Cdata,
    Doctype,
}

impl Bang {
    pub(super) fn pattern(self) -> &'static [u8] {
        match self {
            Bang::Unknown => b"",
            Bang::Comment => b"--",
            Bang::Cdata => b"[CDATA[",
            Bang::Doctype => b"DOCTYPE",
        }
    }
}

/// Inside `<!DOCTYPE ...>`: skipped, with enough structure to find its real end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dtd {
    Keyword,
    Outer {
        quote: u8,
    },
    Subset {
        quote: u8,
    },
    SubLt,
    SubBang,
    /// After `<!E` in the internal subset: `ENTITY` or `ELEMENT`.
    SubE,
    SubDash,
    SubComment {
        dashes: u8,
    },
    SubPi {
        question: bool,
    },
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Character data (or whitespace outside the root).
    Text,
    /// After `&` in text, reading the reference name.
    Ref,
    /// After `<`.
    Lt,
    /// Reading a start-tag name.
    StartName,
    /// In a start tag on the audited path, between attributes; `ws` once whitespace was seen.
    Attrs {
        ws: bool,
    },
    AttrName,
    AttrEq,
    AttrQuote,
    AttrValue {
        quote: u8,
    },
    AttrRef {
        quote: u8,
    },
    /// In a start tag of a skipped subtree: scanning for `>` outside quotes.
    SkipTag {
        quote: u8,
        slash: bool,
    },
    /// After `/` in a start tag.
    EmptyEnd,
    /// Matching an end-tag name against the open element.
    EndName {
        matched: usize,
    },
    EndTail,
    /// An end tag inside content deeper than the name stack: its name is read, not matched.
    EndDeep {
        named: bool,
    },
    Bang {
        kind: Bang,
        matched: u8,
    },
    Comment {
        dashes: u8,
    },
    Cdata {
        brackets: u8,
    },
    Doctype(Dtd),
    PiTarget,
    /// After a processing-instruction target and `?`: only `>` may follow.
    PiTargetEnd,
    Pi {
        question: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Root {
    NotYet,
    Open,
    Done,
}
