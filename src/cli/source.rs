//! Where a command's config comes from: `FILE` or `--config FILE` (else `DAVAUDIT_CONFIG`,
//! else no file: the defaults), then the overrides `--listen`, `--admin-listen`,
//! `--upstream-url`, `--log-level`, `--log-format` and their `DAVAUDIT_*` variables.
//!
//! Precedence: flag > environment > file > default. An empty environment variable counts as
//! unset (Compose writes `${VAR}` of an unset variable as empty).

use std::path::{Path, PathBuf};

use crate::config::{self, Config, Override, OverrideKey};

/// The environment variable naming the config file.
pub(crate) const CONFIG_ENV: &str = "DAVAUDIT_CONFIG";

/// `--config FILE` and the overrides; shared by `serve`, `check-config` and `healthcheck`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ConfigArgs {
    /// Config file (YAML). Default: $DAVAUDIT_CONFIG; without either, the built-in defaults
    /// (then --upstream-url or DAVAUDIT_UPSTREAM_URL is required).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Overrides `listen` [env: DAVAUDIT_LISTEN].
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<String>,
    /// Overrides `admin.listen` [env: DAVAUDIT_ADMIN_LISTEN].
    #[arg(long, value_name = "IP:PORT")]
    pub admin_listen: Option<String>,
    /// Overrides `upstream.url` [env: DAVAUDIT_UPSTREAM_URL].
    #[arg(long, value_name = "URL")]
    pub upstream_url: Option<String>,
    /// Overrides `log.level`, e.g. `info,davaudit=debug` [env: DAVAUDIT_LOG_LEVEL].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Overrides `log.format`: json or text [env: DAVAUDIT_LOG_FORMAT].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

/// The resolved sources: the file (if any) and the overrides in force.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// The config file, from the arguments or `DAVAUDIT_CONFIG`.
    pub file: Option<PathBuf>,
    /// Flags and variables, each key at most once (the flag wins over the variable).
    pub overrides: Vec<Override>,
}

impl ConfigArgs {
    /// Resolves against the process environment; `positional` is a `FILE` argument, which
    /// the caller has made exclusive with `--config`.
    pub(crate) fn resolve(&self, positional: Option<&Path>) -> Source {
        self.resolve_with(positional, |name| std::env::var(name).ok())
    }

    /// [`ConfigArgs::resolve`] with `env` as the environment (tests).
    pub(crate) fn resolve_with(
        &self,
        positional: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Source {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let file = positional
            .map(Path::to_path_buf)
            .or_else(|| self.config.clone())
            .or_else(|| env(CONFIG_ENV).map(PathBuf::from));
        let overrides = OverrideKey::ALL
            .into_iter()
            .filter_map(|key| {
                let flag = match key {
                    OverrideKey::Listen => &self.listen,
                    OverrideKey::AdminListen => &self.admin_listen,
                    OverrideKey::UpstreamUrl => &self.upstream_url,
                    OverrideKey::LogLevel => &self.log_level,
                    OverrideKey::LogFormat => &self.log_format,
                };
                match flag {
                    Some(value) => Some(Override {
                        key,
                        value: value.clone(),
                        origin: key.flag().to_owned(),
                    }),
                    None => env(key.env()).map(|value| Override {
                        key,
                        value,
                        origin: key.env().to_owned(),
                    }),
                }
            })
            .collect();
        Source { file, overrides }
    }
}

impl Source {
    /// Reads the file (if any) and applies the overrides.
    pub(crate) fn load(&self) -> Result<Config, config::Error> {
        config::load_with(self.file.as_deref(), &self.overrides)
    }

    /// True when neither a file nor any override says anything: a bare `davaudit`.
    pub(crate) fn is_empty(&self) -> bool {
        self.file.is_none() && self.overrides.is_empty()
    }

    /// `FILE` or `(no config file)`, for log lines.
    pub(crate) fn describe(&self) -> String {
        match &self.file {
            Some(file) => file.display().to_string(),
            None => "(no config file)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_flag_beats_the_environment_and_an_empty_variable_is_unset() {
        let args = ConfigArgs {
            listen: Some("0.0.0.0:1".to_owned()),
            ..ConfigArgs::default()
        };
        let source = args.resolve_with(
            None,
            env_of(&[
                ("DAVAUDIT_LISTEN", "0.0.0.0:2"),
                ("DAVAUDIT_ADMIN_LISTEN", "0.0.0.0:3"),
                ("DAVAUDIT_LOG_LEVEL", ""),
            ]),
        );
        let got: Vec<(&str, &str, &str)> = source
            .overrides
            .iter()
            .map(|o| (o.key.key(), o.value.as_str(), o.origin.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("listen", "0.0.0.0:1", "--listen"),
                ("admin.listen", "0.0.0.0:3", "DAVAUDIT_ADMIN_LISTEN"),
            ]
        );
        assert_eq!(source.file, None);
    }

    #[test]
    fn the_file_comes_from_the_argument_then_the_flag_then_the_environment() {
        let env = env_of(&[("DAVAUDIT_CONFIG", "/env.yaml")]);
        let none = ConfigArgs::default();
        assert_eq!(
            none.resolve_with(None, &env).file,
            Some(PathBuf::from("/env.yaml"))
        );
        let flag = ConfigArgs {
            config: Some("/flag.yaml".into()),
            ..ConfigArgs::default()
        };
        assert_eq!(
            flag.resolve_with(None, &env).file,
            Some(PathBuf::from("/flag.yaml"))
        );
        assert_eq!(
            none.resolve_with(Some(Path::new("/arg.yaml")), &env).file,
            Some(PathBuf::from("/arg.yaml"))
        );
    }
}
