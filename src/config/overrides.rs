//! Settings given outside the config file: a command-line flag or a `DAVAUDIT_*` environment
//! variable, so a container needs no mounted file just to listen on `0.0.0.0`.
//!
//! Precedence: flag > environment > file > default. The caller (the CLI) picks the flag or
//! the variable and names it in [`Override::origin`]; this module applies the values to the
//! raw config with the same parsers the file's values go through, so a bad value gets the
//! same message, prefixed by where it came from (`DAVAUDIT_LISTEN: listen: invalid ...`).

/// A key that can be set outside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideKey {
    /// `listen`.
    Listen,
    /// `admin.listen`.
    AdminListen,
    /// `upstream.url`.
    UpstreamUrl,
    /// `log.level`.
    LogLevel,
    /// `log.format`.
    LogFormat,
}

impl OverrideKey {
    /// Every key, in the order the documentation lists them.
    pub const ALL: [OverrideKey; 5] = [
        OverrideKey::Listen,
        OverrideKey::AdminListen,
        OverrideKey::UpstreamUrl,
        OverrideKey::LogLevel,
        OverrideKey::LogFormat,
    ];

    /// The dotted key in the config file.
    pub fn key(self) -> &'static str {
        match self {
            OverrideKey::Listen => "listen",
            OverrideKey::AdminListen => "admin.listen",
            OverrideKey::UpstreamUrl => "upstream.url",
            OverrideKey::LogLevel => "log.level",
            OverrideKey::LogFormat => "log.format",
        }
    }

    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        match self {
            OverrideKey::Listen => "--listen",
            OverrideKey::AdminListen => "--admin-listen",
            OverrideKey::UpstreamUrl => "--upstream-url",
            OverrideKey::LogLevel => "--log-level",
            OverrideKey::LogFormat => "--log-format",
        }
    }

    /// The environment variable.
    pub fn env(self) -> &'static str {
        match self {
            OverrideKey::Listen => "DAVAUDIT_LISTEN",
            OverrideKey::AdminListen => "DAVAUDIT_ADMIN_LISTEN",
            OverrideKey::UpstreamUrl => "DAVAUDIT_UPSTREAM_URL",
            OverrideKey::LogLevel => "DAVAUDIT_LOG_LEVEL",
            OverrideKey::LogFormat => "DAVAUDIT_LOG_FORMAT",
        }
    }
}

/// One value set outside the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Which key it sets.
    pub key: OverrideKey,
    /// The value as given (parsed like the file's value).
    pub value: String,
    /// Where it came from, as the user wrote it: `--listen` or `DAVAUDIT_LISTEN`.
    pub origin: String,
}

/// `json` or `text`, as in the file.
pub(super) fn parse_log_format(s: &str) -> Result<super::LogFormat, String> {
    match s {
        "json" => Ok(super::LogFormat::Json),
        "text" => Ok(super::LogFormat::Text),
        other => Err(format!(
            "invalid log format {other:?}: expected json or text"
        )),
    }
}
