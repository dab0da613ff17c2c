//! `davaudit completions SHELL` and `davaudit man [--dir DIR]`: shell completions and man
//! pages generated from the one clap definition ([`super::Cli`]), so they cannot drift from
//! the commands they describe.
//!
//! `completions` prints a script for bash, zsh, fish, elvish or PowerShell on stdout. `man`
//! prints `davaudit(1)` on stdout, or with `--dir` writes `davaudit.1` and one
//! `davaudit-SUBCOMMAND.1` per subcommand there (what a package build installs).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::Shell;

/// Arguments of `davaudit completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `davaudit man`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write `davaudit.1` and `davaudit-SUBCOMMAND.1` into this directory instead of printing
    /// `davaudit.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The completion script for `shell`.
pub(crate) fn completions(shell: Shell) -> Vec<u8> {
    let mut command = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "davaudit", &mut out);
    out
}

/// `(file name, roff text)` of `davaudit.1` and of each subcommand's page.
pub(crate) fn man_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut command = super::Cli::command();
    // Subcommands' pages are titled `davaudit-NAME` and their usage says `davaudit NAME`.
    command.build();
    let mut pages = vec![(
        "davaudit.1".to_owned(),
        render(command.clone(), "davaudit")?,
    )];
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let title = format!("davaudit-{}", sub.get_name());
        pages.push((format!("{title}.1"), render(sub.clone(), &title)?));
    }
    Ok(pages)
}

fn render(command: clap::Command, title: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .title(title)
        .source(concat!("davaudit ", env!("CARGO_PKG_VERSION")))
        .render(&mut out)
        .context("cannot render the man page")?;
    Ok(out)
}

pub(crate) fn run_completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    write_stdout(&completions(args.shell))
}

pub(crate) fn run_man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let pages = man_pages()?;
    match args.dir {
        None => write_stdout(&pages[0].1),
        Some(dir) => {
            for (name, page) in &pages {
                write_page(&dir, name, page)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_page(dir: &Path, name: &str, page: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;
    use clap::ValueEnum as _;

    use super::*;

    /// Every subcommand users can type (without clap's own `help`).
    fn subcommands() -> Vec<String> {
        let names: Vec<String> = super::super::Cli::command()
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        for expected in [
            "serve",
            "check-config",
            "scan",
            "healthcheck",
            "completions",
            "man",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        names
    }

    #[test]
    fn every_shell_completion_names_every_subcommand_and_flag() {
        for shell in Shell::value_variants() {
            let script = String::from_utf8(completions(*shell)).expect("UTF-8 script");
            for name in subcommands() {
                assert!(script.contains(&name), "{shell}: no `{name}` in\n{script}");
            }
            for flag in ["config", "upstream-url", "admin-listen", "json", "quiet"] {
                let spelled = match shell {
                    Shell::Fish => format!("-l {flag}"),
                    _ => format!("--{flag}"),
                };
                assert!(script.contains(&spelled), "{shell}: no `{spelled}`");
            }
        }
    }

    /// roff writes `-` as `\-`.
    fn roff(text: &str) -> String {
        text.replace('-', "\\-")
    }

    #[test]
    fn man_page_lists_every_subcommand_and_each_has_its_own_page() {
        let pages = man_pages().expect("render");
        let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).expect("UTF-8 roff");
        let main = text(&pages[0].1);
        assert!(main.contains(".TH davaudit 1"), "{main}");
        for name in subcommands() {
            let listed = roff(&format!("davaudit-{name}(1)"));
            assert!(
                main.contains(&listed),
                "davaudit.1 does not list {listed}:\n{main}"
            );
            let file = format!("davaudit-{name}.1");
            let page = pages
                .iter()
                .find(|(n, _)| *n == file)
                .unwrap_or_else(|| panic!("no {file}"));
            let page = text(&page.1);
            assert!(
                page.contains(&format!(".TH davaudit-{name} 1")),
                "{file}:\n{page}"
            );
            assert!(
                page.contains(&roff(&format!("davaudit {name}"))),
                "{file} synopsis:\n{page}"
            );
        }
        let check = pages
            .iter()
            .find(|(n, _)| n == "davaudit-check-config.1")
            .expect("page");
        let check = text(&check.1);
        assert!(
            check.contains(&roff("--quiet")),
            "check-config's page:\n{check}"
        );
    }
}
