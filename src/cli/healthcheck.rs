//! `davaudit healthcheck [--url URL] [--timeout DURATION]`: one `GET` of the admin listener's
//! `/healthz`, for Docker/Compose `HEALTHCHECK` (the runtime image has no shell or curl).
//!
//! Exit 0 when the answer is a 2xx, 1 otherwise (refused, timed out, not HTTP, other status),
//! with one line on stderr saying which. Plain HTTP only: the admin listener has no TLS.
//! Blocking std I/O with a deadline; no runtime is started for one request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use http::Uri;

/// The default probe: the admin listener's default address.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:9207/healthz";

/// Arguments of `davaudit healthcheck`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The URL to probe (plain http). A path other than `/healthz` (say `/readyz`) is probed
    /// as given.
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// Give up after this long (connect and answer together), e.g. `2s`, `500ms`.
    #[arg(long, default_value = "5s", value_parser = parse_timeout)]
    pub timeout: Duration,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

/// Runs the probe; an unhealthy answer is an exit code, not an `Err`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match probe(&args.url, args.timeout) {
        Ok(status) if (200..300).contains(&status) => Ok(ExitCode::SUCCESS),
        Ok(status) => {
            eprintln!("davaudit healthcheck: {} answered {status}", args.url);
            Ok(ExitCode::FAILURE)
        }
        Err(reason) => {
            eprintln!("davaudit healthcheck: {}: {reason}", args.url);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The status code of `GET url`, or why there is none.
pub(crate) fn probe(url: &str, timeout: Duration) -> Result<u16, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(format!("scheme {other} is not supported (plain http only)")),
        None => return Err("give a full URL, e.g. http://127.0.0.1:9207/healthz".to_owned()),
    }
    let authority = uri.authority().ok_or("the URL has no host")?;
    let port = authority.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (authority.host().trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .collect();
    let addr = addrs.first().ok_or("the host has no address")?;
    let mut stream = TcpStream::connect_timeout(addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {timeout:?}"))
    };
    stream.set_write_timeout(Some(left()?)).ok();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: davaudit-healthcheck\r\n\
         Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    // The status line is all that is needed: read until the first line ends (bounded).
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        stream.set_read_timeout(Some(left()?)).ok();
        let n = stream.read(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("no answer within {timeout:?}")
            }
            _ => format!("cannot read the answer: {e}"),
        })?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_code(&head).ok_or_else(|| "the answer is not HTTP".to_owned())
}

/// `HTTP/1.1 200 OK\r\n...` -> 200.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_and_garbage_does_not() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn only_plain_http_urls_are_probed() {
        let t = Duration::from_secs(1);
        assert!(
            probe("https://127.0.0.1:1/healthz", t)
                .unwrap_err()
                .contains("plain http")
        );
        assert!(probe("127.0.0.1:9207", t).is_err());
    }
}
