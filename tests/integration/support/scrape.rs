//! Prometheus text exposition parser for `GET /metrics` on the admin listener.
//!
//! ```ignore
//! let before = Metrics::scrape(proxy.admin_addr()).await;
//! /* ... requests ... */
//! // audit counters are written by the audit task after the body ended: wait for them
//! let after = Metrics::wait_for(admin, |m| m.delta(&before, FAM, labels) >= 1.0).await;
//! assert_eq!(after.delta(&before, "davaudit_requests_total", &[("method", "GET")]), 1.0);
//! ```
//!
//! Note: the prometheus crate prints nothing for a labelled family that has no series yet,
//! so `has_family` is false until the first observation (or `# HELP/# TYPE` is printed).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::client::HttpClient;
use super::wait_until;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    pub(crate) samples: Vec<Sample>,
    /// `# TYPE` per family.
    pub(crate) types: BTreeMap<String, String>,
    /// `# HELP` per family.
    pub(crate) help: BTreeMap<String, String>,
    /// The text as scraped.
    pub(crate) text: String,
}

impl Metrics {
    /// `GET http://{admin}/metrics`; asserts 200 and a parseable body.
    pub(crate) async fn scrape(admin: SocketAddr) -> Metrics {
        let url = format!("http://{admin}/metrics");
        let (status, _headers, body) = HttpClient::http1().send("GET", &url, &[], "").await;
        assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
        let text = String::from_utf8(body.to_vec()).expect("metrics are UTF-8");
        Metrics::parse(&text).unwrap_or_else(|e| panic!("bad exposition format: {e}\n{text}"))
    }

    /// Scrapes until `pred` holds (bounded deadline loop) and returns that scrape.
    pub(crate) async fn wait_for(admin: SocketAddr, pred: impl Fn(&Metrics) -> bool) -> Metrics {
        let pred = &pred;
        wait_until("metrics condition", || async move {
            let m = Metrics::scrape(admin).await;
            pred(&m).then_some(m)
        })
        .await
    }

    /// Parses the text format (0.0.4). Strict: any line it cannot read is an error.
    pub(crate) fn parse(text: &str) -> Result<Metrics, String> {
        let mut m = Metrics {
            text: text.to_owned(),
            ..Metrics::default()
        };
        for (no, line) in text.lines().enumerate() {
            let line = line.trim_end();
            let err = |why: &str| format!("line {}: {why}: {line:?}", no + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').ok_or_else(|| err("TYPE"))?;
                m.types.insert(name.to_owned(), ty.trim().to_owned());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                m.help.insert(name.to_owned(), help.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            m.samples.push(parse_sample(line).map_err(|why| err(&why))?);
        }
        Ok(m)
    }

    /// Sum of the samples named `name` whose labels include every pair in `labels` (a
    /// subset match: `&[]` sums the whole series). 0.0 when none match.
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The value of the one sample whose label set is exactly `labels`.
    pub(crate) fn get_exact(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// `self.get(..) - before.get(..)`.
    pub(crate) fn delta(&self, before: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels) - before.get(name, labels)
    }

    /// Per-(level, code) deltas of an audit family (`davaudit_multistatus_entries_total`,
    /// `..._failures_total`) for one method; zero deltas are left out.
    pub(crate) fn level_code_deltas(
        &self,
        before: &Metrics,
        family: &str,
        method: &str,
    ) -> BTreeMap<(String, String), u64> {
        let mut seen = BTreeMap::new();
        for labels in self.labels_of(family) {
            if labels.get("method").map(String::as_str) != Some(method) {
                continue;
            }
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let delta = self.delta(before, family, &pairs);
            if delta != 0.0 {
                seen.insert(
                    (labels["level"].clone(), labels["code"].clone()),
                    delta as u64,
                );
            }
        }
        seen
    }

    /// True when the family has a `# TYPE` line or at least one sample (histograms:
    /// `name_bucket`, `name_sum`, `name_count` count for `name`).
    pub(crate) fn has_family(&self, name: &str) -> bool {
        self.types.contains_key(name)
            || self
                .samples
                .iter()
                .any(|s| family_of(&s.name) == name || s.name == name)
    }

    /// The label sets of the samples named exactly `name`.
    pub(crate) fn labels_of(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.labels.clone())
            .collect()
    }

    /// The distinct values label `label` takes on samples named `name`.
    pub(crate) fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
    }
}

fn family_of(sample: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| sample.strip_suffix(suffix))
        .unwrap_or(sample)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without '='")?;
            let key = rest[..eq].trim().to_owned();
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            rest = &rest[end + 1..];
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("duplicate label {key:?}"));
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or("no value")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .map_err(|e| format!("bad value {v:?}: {e}"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|e| format!("bad timestamp {ts:?}: {e}"))?;
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}
