//! The live view: `GET /` (one static HTML page, `ui.html`, embedded in the binary) and
//! `GET /failures` (JSON from [`crate::telemetry::recent`]).
//!
//! - The page is static: it never contains backend data. Its script fetches `./failures`
//!   every few seconds and inserts every text with `textContent`. The response carries a CSP
//!   that allows exactly that one inline script by hash (`SCRIPT_SHA256`, checked by a
//!   unit test against `ui.html`), no other script, no frames, no forms, and fetches to the
//!   same origin only; plus `X-Content-Type-Options: nosniff`.
//! - On or off per `admin.ui` ([`crate::config::Admin::ui_enabled`]); off, both paths answer
//!   404 with the reason. When it is on only because the admin listener is loopback (the
//!   default), requests must name the host as `localhost` or an IP address: a web page on
//!   another site cannot then read the hrefs through DNS rebinding. `admin.ui: true` accepts
//!   any host.
//! - `/failures?limit=N&code=NNN&since=MS` ([`parse_query`]): a [`crate::telemetry::recent::Snapshot`]
//!   as JSON, with `<`, `>` and `&` inside strings escaped as `\u003c`, `\u003e`, `\u0026`.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;

use super::body::{self, AdminBody, Renders};
use crate::multistatus::Code;
use crate::telemetry::recent::{Query, RecentFailures, Snapshot};
use crate::{config, plain};

/// The page, byte for byte.
const PAGE: &str = include_str!("ui.html");

/// `sha256-` + base64 of the SHA-256 of the text of the page's one `<script>` element
/// (a macro, so that `concat!` can put it in [`CSP`]).
macro_rules! script_sha256 {
    () => {
        "sha256-b3+0H5ad26SwrhSwcR7T3Y/UY0ezckN0dIt+0e5OyPM="
    };
}

#[cfg(test)]
const SCRIPT_SHA256: &str = script_sha256!();

/// Sent with the page.
const CSP: &str = concat!(
    "default-src 'none'; script-src '",
    script_sha256!(),
    "'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; ",
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
);

/// Whether and how the live view is served.
#[derive(Debug, Clone)]
pub(super) enum LiveView {
    Off(&'static str),
    On {
        recent: Arc<RecentFailures>,
        /// False when on by the loopback default: only `localhost` / IP-literal hosts.
        any_host: bool,
    },
}

impl LiveView {
    pub(super) fn new(recent: Arc<RecentFailures>, admin: &config::Admin) -> Self {
        match admin.ui {
            Some(false) => LiveView::Off("admin.ui is false"),
            Some(true) => LiveView::On {
                recent,
                any_host: true,
            },
            None if admin.live_address().ip().is_loopback() => LiveView::On {
                recent,
                any_host: false,
            },
            None if admin.live_listen.is_some() => LiveView::Off(
                "admin.live_listen is not a loopback address and hrefs can be sensitive; \
                 set admin.ui: true to serve it there",
            ),
            None => LiveView::Off(
                "admin.listen is not a loopback address and hrefs can be sensitive; \
                 set admin.ui: true to serve it there",
            ),
        }
    }

    pub(super) fn is_on(&self) -> bool {
        matches!(self, LiveView::On { .. })
    }

    /// Answers `/` and `/failures`; a `/failures` answer needs a permit of `renders`.
    pub(super) fn handle<B>(&self, request: &Request<B>, renders: &Renders) -> Response<AdminBody> {
        let (recent, any_host) = match self {
            LiveView::Off(reason) => {
                return plain::response(
                    StatusCode::NOT_FOUND,
                    format!("not found: the live view (/ and /failures) is off: {reason}\n"),
                )
                .map(AdminBody::from);
            }
            LiveView::On { recent, any_host } => (recent, *any_host),
        };
        if !any_host && !local_host(request) {
            return plain::response(
                StatusCode::FORBIDDEN,
                "the live view answers only to localhost or an IP address (DNS rebinding \
                 protection); set admin.ui: true to accept any host name\n"
                    .to_owned(),
            )
            .map(AdminBody::from);
        }
        if request.uri().path() == "/" {
            return page().map(AdminBody::from);
        }
        let query = match parse_query(request.uri().query()) {
            Ok(query) => query,
            Err(message) => {
                return plain::response(StatusCode::BAD_REQUEST, format!("{message}\n"))
                    .map(AdminBody::from);
            }
        };
        let Some(permit) = renders.try_acquire() else {
            return body::busy();
        };
        let snapshot = recent.snapshot(&query);
        match render_failures(snapshot, MAX_FAILURES_BYTES) {
            Ok(json) => {
                let mut response = body::large(json, "application/json", permit);
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                response
            }
            Err(error) => plain::response(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode: {error}\n"),
            )
            .map(AdminBody::from),
        }
    }
}

/// Largest `/failures` answer: records that would go past it are left out (newest kept) and
/// counted in `omitted`. Each record is at most a few hundred KiB (`max_logged_failures` x 3
/// texts x `max_text`, `<` written as 6 bytes), so one answer stays near this.
pub(super) const MAX_FAILURES_BYTES: usize = 1 << 20;

/// The snapshot as html-safe JSON, its records written one by one while they fit in
/// `budget` bytes (the newest always), then `"omitted": N` for those left out.
fn render_failures(mut snapshot: Snapshot, budget: usize) -> serde_json::Result<Vec<u8>> {
    let records = std::mem::take(&mut snapshot.failures);
    let mut out = html_safe_json(&snapshot)?;
    // `failures` is the last field: reopen its empty list.
    const EMPTY_TAIL: &[u8] = b"\"failures\":[]}";
    if !out.ends_with(EMPTY_TAIL) {
        return Err(serde::ser::Error::custom("unexpected snapshot layout"));
    }
    out.truncate(out.len() - 2);
    let mut omitted = 0usize;
    let mut written = 0usize;
    for record in &records {
        if omitted > 0 {
            omitted += 1;
            continue;
        }
        let json = html_safe_json(&**record)?;
        if written > 0 && out.len() + json.len() + 32 > budget {
            omitted += 1;
            continue;
        }
        if written > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&json);
        written += 1;
    }
    out.extend_from_slice(format!("],\"omitted\":{omitted}}}").as_bytes());
    Ok(out)
}

/// JSON with `<`, `>` and `&` inside strings written as `\u003c`, `\u003e`, `\u0026`: the
/// same value for any JSON parser, but no markup in the bytes even if something ever
/// showed them as HTML.
fn html_safe_json<T: serde::Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(4096);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, HtmlSafe);
    value.serialize(&mut serializer)?;
    Ok(out)
}

struct HtmlSafe;

impl serde_json::ser::Formatter for HtmlSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(['<', '>', '&']) {
            let (before, after) = rest.split_at(i);
            writer.write_all(before.as_bytes())?;
            writer.write_all(match after.as_bytes().first() {
                Some(b'<') => b"\\u003c",
                Some(b'>') => b"\\u003e",
                _ => b"\\u0026",
            })?;
            rest = after.get(1..).unwrap_or_default();
        }
        writer.write_all(rest.as_bytes())
    }
}

fn page() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `/failures` parameters: `limit` (default 50, capped by the ring size), `code` (a 3-digit
/// code or `invalid`: records with a failing status of that code), `since` (unix
/// milliseconds: records at or after it). Other parameters are ignored (cache busters).
pub(super) fn parse_query(query: Option<&str>) -> Result<Query, String> {
    let mut parsed = Query::default();
    for pair in query.unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "limit" => {
                parsed.limit = value
                    .parse()
                    .map_err(|_| format!("limit: expected a number of records, got {value:?}"))?;
            }
            "code" => parsed.code = Some(parse_code(value)?),
            "since" => {
                parsed.since_ms = Some(value.parse().map_err(|_| {
                    format!("since: expected unix time in milliseconds, got {value:?}")
                })?);
            }
            _ => {}
        }
    }
    Ok(parsed)
}

fn parse_code(value: &str) -> Result<Code, String> {
    if value == "invalid" {
        return Ok(Code::Invalid);
    }
    match value.parse::<u16>() {
        Ok(n) if value.len() == 3 && (100..=999).contains(&n) => Ok(Code::Status(n)),
        _ => Err(format!(
            "code: expected a 3-digit status code or \"invalid\", got {value:?}"
        )),
    }
}

/// True when the request names its host as `localhost` (or `*.localhost`) or an IP address,
/// or names none (HTTP/1.0).
pub(super) fn local_host<B>(request: &Request<B>) -> bool {
    let authority = match request.uri().authority() {
        Some(authority) => authority.as_str().to_owned(),
        None => match request.headers().get(header::HOST) {
            Some(value) => match value.to_str() {
                Ok(host) => host.to_owned(),
                Err(_) => return false,
            },
            None => return true,
        },
    };
    is_local_authority(&authority)
}

fn is_local_authority(authority: &str) -> bool {
    // Userinfo is not allowed in Host; keep the part after any '@' anyway.
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    host.parse::<std::net::Ipv4Addr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    /// The CSP allows the page's script by hash: editing the script needs the new hash here.
    #[test]
    fn the_csp_hash_is_the_hash_of_the_page_script() {
        assert_eq!(
            PAGE.matches("<script").count(),
            1,
            "exactly one script element"
        );
        let start = PAGE.find("<script>").expect("<script>") + "<script>".len();
        let end = PAGE.find("</script>").expect("</script>");
        let script = &PAGE[start..end];
        let hash = format!("sha256-{}", base64(&Sha256::digest(script.as_bytes())));
        assert_eq!(
            SCRIPT_SHA256, hash,
            "ui.html's script changed: set SCRIPT_SHA256 and the CSP to {hash}"
        );
        assert!(
            CSP.contains(&format!("script-src '{SCRIPT_SHA256}';")),
            "{CSP}"
        );
    }

    #[test]
    fn the_page_is_static_and_inserts_text_only() {
        assert!(!PAGE.contains("innerHTML"));
        assert!(!PAGE.contains("outerHTML"));
        assert!(!PAGE.contains("insertAdjacentHTML"));
        assert!(!PAGE.contains("document.write"));
        assert!(!PAGE.contains("eval("));
        // No CDN: the only absolute URL is the SVG namespace name.
        let svg_ns = "const SVG_NS = \"http://www.w3.org/2000/svg\";";
        assert!(PAGE.contains(svg_ns));
        assert!(!PAGE.replace(svg_ns, "").contains("://"));
    }

    #[test]
    fn json_has_no_markup_but_the_same_value() {
        let value = serde_json::json!({"<k>": "</script><img src=x onerror=\"alert('&')\">é"});
        let bytes = html_safe_json(&value).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(!text.contains(['<', '>', '&']), "{text}");
        assert!(text.contains("\\u003c/script\\u003e"), "{text}");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            value
        );
    }

    /// `n` records, each with one failure whose href is 1 KiB of `<`.
    fn fill(recent: &RecentFailures, n: usize) {
        use crate::multistatus::{Failure, Level, Outcome, Report};
        use crate::telemetry::recent::Sighting;
        let mut report = Report::empty(Outcome::PartialFailure);
        report.entries = 1;
        report.failure_count = 1;
        report.failures.push(Failure {
            href: "<".repeat(1024),
            hrefs: vec!["<".repeat(1024)],
            href_count: 1,
            props: vec!["<".repeat(1024)],
            prop_count: 1,
            level: Level::Propstat,
            code: Code::Status(423),
            error: None,
            description: None,
        });
        for _ in 0..n {
            recent.record(&Sighting {
                request_id: "r",
                method: "DELETE",
                path: "/p",
                route: None,
                status: 207,
                report: &report,
                max_failures: 10,
            });
        }
    }

    #[test]
    fn a_failures_answer_stays_within_its_budget_and_counts_what_it_left_out() {
        let snapshot = |n: usize| {
            let recent = RecentFailures::new(n);
            fill(&recent, n);
            recent.snapshot(&Query {
                limit: n,
                ..Query::default()
            })
        };
        let all = render_failures(snapshot(3), usize::MAX).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&all).unwrap();
        assert_eq!(value["failures"].as_array().unwrap().len(), 3);
        assert_eq!(value["omitted"], 0);
        let budget = 32 * 1024;
        let some = render_failures(snapshot(50), budget).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&some).unwrap();
        let kept = value["failures"].as_array().unwrap().len();
        assert!((1..50).contains(&kept), "{kept}");
        assert_eq!(value["omitted"], 50 - kept);
        assert!(some.len() <= budget, "{}", some.len());
    }

    #[test]
    fn queries_parse_and_refuse_nonsense() {
        assert_eq!(parse_query(None).unwrap(), Query::default());
        assert_eq!(parse_query(Some("")).unwrap(), Query::default());
        let q = parse_query(Some("limit=5&code=423&since=1700000000000&_=1")).unwrap();
        assert_eq!(
            q,
            Query {
                limit: 5,
                code: Some(Code::Status(423)),
                since_ms: Some(1_700_000_000_000)
            }
        );
        assert_eq!(
            parse_query(Some("code=invalid")).unwrap().code,
            Some(Code::Invalid)
        );
        for bad in [
            "limit=-1",
            "limit=ten",
            "code=42",
            "code=4233",
            "code=099",
            "code=+42",
            "code=",
            "since=yesterday",
        ] {
            assert!(parse_query(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_hosts_are_localhost_and_ip_literals() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:9207",
            "localhost",
            "LOCALHOST:9207",
            "app.localhost:1",
            "localhost.",
            "[::1]:9207",
            "[::1]",
            "10.0.0.5:9207",
        ] {
            assert!(is_local_authority(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9207",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "[::1",
            "",
        ] {
            assert!(!is_local_authority(host), "{host}");
        }
    }

    fn get(uri: &str, host: Option<&str>) -> Request<()> {
        let mut builder = Request::get(uri);
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.body(()).unwrap()
    }

    fn admin(listen: &str, ui: Option<bool>) -> config::Admin {
        config::Admin {
            listen: listen.parse().unwrap(),
            ui,
            live_listen: None,
            token_file: None,
            metrics_token_file: None,
            max_connections: 256,
        }
    }

    #[test]
    fn on_off_and_host_checks() {
        let recent = Arc::new(RecentFailures::new(10));
        let auto_local = LiveView::new(recent.clone(), &admin("127.0.0.1:9207", None));
        let auto_public = LiveView::new(recent.clone(), &admin("0.0.0.0:9207", None));
        let forced = LiveView::new(recent.clone(), &admin("0.0.0.0:9207", Some(true)));
        let off = LiveView::new(recent, &admin("127.0.0.1:9207", Some(false)));
        assert!(auto_local.is_on() && forced.is_on());
        assert!(!auto_public.is_on() && !off.is_on());

        let status = |view: &LiveView, uri: &str, host: Option<&str>| {
            view.handle(&get(uri, host), &Renders::new(4))
                .status()
                .as_u16()
        };
        assert_eq!(status(&auto_local, "/", Some("127.0.0.1:9207")), 200);
        assert_eq!(
            status(&auto_local, "/failures", Some("localhost:9207")),
            200
        );
        assert_eq!(status(&auto_local, "/failures", None), 200);
        assert_eq!(status(&auto_local, "/", Some("rebound.example:9207")), 403);
        assert_eq!(status(&forced, "/", Some("davaudit.internal:9207")), 200);
        assert_eq!(status(&auto_public, "/", Some("10.0.0.1:9207")), 404);
        assert_eq!(status(&off, "/failures", Some("127.0.0.1")), 404);
        assert_eq!(status(&auto_local, "/failures?limit=x", None), 400);
    }

    #[test]
    fn the_page_and_the_json_carry_their_headers() {
        let view = LiveView::new(
            Arc::new(RecentFailures::new(10)),
            &admin("127.0.0.1:0", None),
        );
        let renders = Renders::new(1);
        let page = view.handle(&get("/", None), &renders);
        let h = page.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        let json = view.handle(&get("/failures", None), &renders);
        // The one permit is held by the answer until its body has been taken.
        assert_eq!(
            view.handle(&get("/failures", None), &renders).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(json.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(json.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
