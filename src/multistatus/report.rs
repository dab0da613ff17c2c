//! The audit vocabulary: what a scan of one multistatus body says.
//!
//! Plain data, no behaviour beyond formatting. Shared by the scanner (which fills a
//! [`Report`]), the audit policy (which decides what a failure is), telemetry (which turns a
//! report into counters and one log event) and `davaudit scan` (which prints it as JSON).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

/// Where a status was found inside a `DAV:response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `DAV:response/DAV:status`: the status of the whole resource.
    Response,
    /// `DAV:response/DAV:propstat/DAV:status`: the status of a group of properties.
    Propstat,
}

impl Level {
    /// The metric label value and the config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Response => "response",
            Level::Propstat => "propstat",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status code found in a `DAV:status` element: three digits, or `Invalid` when the text
/// is not a status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// A three-digit code, `100..=999`.
    Status(u16),
    /// The element's text was not `HTTP/x.y NNN [reason]`.
    Invalid,
}

impl Code {
    /// A failure unless a routine rule says otherwise: >= 400, or not a status at all.
    pub fn is_error(self) -> bool {
        match self {
            Code::Status(n) => n >= 400,
            Code::Invalid => true,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Status(n) => write!(f, "{n}"),
            Code::Invalid => f.write_str("invalid"),
        }
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How the audit of one body ended. Exactly one per audited response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Well-formed multistatus, no failure.
    Clean,
    /// Well-formed multistatus with at least one failure.
    PartialFailure,
    /// Not well-formed XML; counts up to the error are kept.
    Malformed,
    /// The body ended early (upstream reset, client gone).
    Truncated,
    /// The audit fell behind the forwarded stream and stopped.
    Lagging,
    /// Well-formed XML whose root is not `DAV:multistatus`.
    NotMultistatus,
    /// Not audited (content type not XML, audit disabled).
    Skipped,
    /// A bound of the scanner stopped the audit (`Report::malformed` says which, in
    /// `limit`); counts up to there are kept. The body may well be valid XML.
    OverLimit,
    /// A complete body whose DTD internal subset declares entities or attribute defaults (or
    /// references parameter entities): a parser that applies it may read other statuses
    /// than the scanner, which never processes a DTD. Counts are the scanner's reading.
    DtdDeclarations,
    /// A complete `DAV:multistatus` body with at least one failure, sent under a 2xx other
    /// than 207 (Radicale's `200` to a DELETE, Xandikos's `201` to an extended MKCOL). Set by
    /// the proxy's audit, which knows the top-level status; the scanner never returns it.
    FailureInSuccess,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 10] = [
        Outcome::Clean,
        Outcome::PartialFailure,
        Outcome::Malformed,
        Outcome::Truncated,
        Outcome::Lagging,
        Outcome::NotMultistatus,
        Outcome::Skipped,
        Outcome::OverLimit,
        Outcome::DtdDeclarations,
        Outcome::FailureInSuccess,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Clean => "clean",
            Outcome::PartialFailure => "partial_failure",
            Outcome::Malformed => "malformed",
            Outcome::Truncated => "truncated",
            Outcome::Lagging => "lagging",
            Outcome::NotMultistatus => "not_multistatus",
            Outcome::Skipped => "skipped",
            Outcome::OverLimit => "over_limit",
            Outcome::DtdDeclarations => "dtd_declarations",
            Outcome::FailureInSuccess => "failure_in_success",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failing status kept with its details (each text capped by the scanner's limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The entry's first `DAV:href`, as written (not decoded).
    pub href: String,
    /// Every `DAV:href` of the entry in order (RFC 4918 §14.24 allows several under one
    /// status), each trimmed and capped like `href`: the first ones whose bytes sum to at
    /// most `max_text` (the first always), at most `MAX_HREFS`.
    pub hrefs: Vec<String>,
    /// How many `DAV:href` the entry had, kept or not.
    pub href_count: u64,
    /// The property names of the failing `DAV:propstat`'s `DAV:prop`, in order, in Clark
    /// notation (`{DAV:}getlastmodified`; a name in no namespace alone; an unbound prefix as
    /// written, `DAV:getlastmodified`), each capped like `href`: the first ones whose bytes
    /// sum to at most `max_text` (the first always), at most `MAX_PROPS`. Empty for a
    /// response-level failure (#14: which property was refused).
    pub props: Vec<String>,
    /// How many properties that `DAV:prop` named, kept or not (0 at response level).
    pub prop_count: u64,
    pub level: Level,
    pub code: Code,
    /// Local name of the first child of `DAV:error`, prefixed `DAV:` when in that namespace
    /// (e.g. `DAV:lock-token-submitted`), else `{ns}name`.
    pub error: Option<String>,
    /// `DAV:responsedescription` of the entry (or of its propstat), whitespace-trimmed.
    pub description: Option<String>,
}

/// Why and where the scan stopped: a body that is not well formed, or (with `limit` set) a
/// bound of the scanner that was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// Byte offset in the (decoded) body where the error was found.
    pub offset: u64,
    pub reason: String,
    /// The bound that stopped the scan (outcome `over_limit`); `None` for malformed XML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
}

impl Malformed {
    /// Not well formed at `offset`.
    pub fn at(offset: u64, reason: impl Into<String>) -> Self {
        Malformed {
            offset,
            reason: reason.into(),
            limit: None,
        }
    }
}

/// A bound of the scanner (outcome `over_limit`). A closed set: the `limit` label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// `audit.max_depth` on the audited path (skipped content only needs a counter).
    MaxDepth,
    /// The bytes of open element names (`limits::NAMES_BUDGET`) on the audited path, or an
    /// attribute name longer than `limits::MAX_NAME`.
    NameLength,
    /// Namespace declarations in scope on the audited path (`limits::MAX_BINDINGS`, or
    /// their bytes past `limits::NS_BUDGET`).
    NamespaceDeclarations,
    /// An entity reference name longer than `limits::MAX_REF`.
    ReferenceLength,
    /// An XML declaration longer than `limits::MAX_DECL`.
    XmlDeclaration,
}

impl Limit {
    /// Every limit, in label order.
    pub const ALL: [Limit; 5] = [
        Limit::MaxDepth,
        Limit::NameLength,
        Limit::NamespaceDeclarations,
        Limit::ReferenceLength,
        Limit::XmlDeclaration,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxDepth => "max_depth",
            Limit::NameLength => "name_length",
            Limit::NamespaceDeclarations => "namespace_declarations",
            Limit::ReferenceLength => "reference_length",
            Limit::XmlDeclaration => "xml_declaration",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of scanning one body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub outcome: Outcome,
    /// Number of `DAV:response` elements seen.
    pub entries: u64,
    /// Response-level statuses by code.
    pub response_status: BTreeMap<Code, u64>,
    /// Propstat-level statuses by code.
    pub propstat_status: BTreeMap<Code, u64>,
    /// Response-level statuses the classifier called failures, by code (a subset of
    /// `response_status`, same counts).
    pub response_failing: BTreeMap<Code, u64>,
    /// Propstat-level statuses the classifier called failures, by code (a subset of
    /// `propstat_status`, same counts).
    pub propstat_failing: BTreeMap<Code, u64>,
    /// Failures kept with details, root causes first and 424s last; capped in number.
    pub failures: Vec<Failure>,
    /// Every failure counted, kept or not: the sum of both `*_failing` maps.
    pub failure_count: u64,
    /// Set when `outcome` is `Malformed` or `OverLimit` (then with `limit`).
    pub malformed: Option<Malformed>,
    /// Bytes fed to the scanner.
    pub bytes: u64,
    /// Elements whose namespace prefix no declaration binds, read as in no namespace: the
    /// body is well-formed XML but not namespace-well-formed (#14). Never on a counted
    /// element (that is `malformed`).
    pub unbound_prefixes: u64,
}

impl Report {
    /// An empty report with the given outcome (for bodies that were never scanned).
    pub fn empty(outcome: Outcome) -> Self {
        Report {
            outcome,
            entries: 0,
            response_status: BTreeMap::new(),
            propstat_status: BTreeMap::new(),
            response_failing: BTreeMap::new(),
            propstat_failing: BTreeMap::new(),
            failures: Vec::new(),
            failure_count: 0,
            malformed: None,
            bytes: 0,
            unbound_prefixes: 0,
        }
    }

    /// The counts of one level.
    pub fn statuses(&self, level: Level) -> &BTreeMap<Code, u64> {
        match level {
            Level::Response => &self.response_status,
            Level::Propstat => &self.propstat_status,
        }
    }

    /// The failing counts of one level (what the classifier called a failure, by code).
    pub fn failing(&self, level: Level) -> &BTreeMap<Code, u64> {
        match level {
            Level::Response => &self.response_failing,
            Level::Propstat => &self.propstat_failing,
        }
    }
}

/// Decides which statuses are failures. The audit policy implements it from the config's
/// routine rules and the request method; the scanner only asks. The answer must depend on
/// the level and code alone: the scanner may ask once per status or once per code.
pub trait Classify {
    /// True when a status at this level is a failure worth reporting.
    fn is_failure(&self, level: Level, code: Code) -> bool;
}

/// Every code >= 400 (and every invalid status line) is a failure: no routine rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllErrors;

impl Classify for AllErrors {
    fn is_failure(&self, _level: Level, code: Code) -> bool {
        code.is_error()
    }
}
