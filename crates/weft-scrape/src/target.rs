//! Targets: from a discovered target group to the label set and URL that a scrape loop uses,
//! following Prometheus' `PopulateLabels`.

use std::collections::BTreeMap;
use std::time::Duration;

use weft_core::labels::Labels;

use crate::config::{check_target_address, JobConfig, PromDuration};
use crate::relabel::{self, LabelBuilder};

pub const ADDRESS_LABEL: &str = "__address__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const META_LABEL_PREFIX: &str = "__meta_";
pub const RESERVED_LABEL_PREFIX: &str = "__";
pub const JOB_LABEL: &str = "job";
pub const INSTANCE_LABEL: &str = "instance";
/// Set by file SD on every group it reads.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// A group of targets sharing labels, as service discovery delivers it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Where the group came from (`static/0`, `/path/file.json:2`).
    pub source: String,
    /// Each target's own labels; at least `__address__`.
    pub targets: Vec<BTreeMap<String, String>>,
    /// Labels for every target of the group.
    pub labels: BTreeMap<String, String>,
}

/// A target ready to scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Every label after relabeling, including internal `__` ones (minus `__meta_*`).
    pub labels: Labels,
    /// The labels before relabeling.
    pub discovered: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Identity of the target within its pool (labels and URL), as Prometheus' `Target.hash`.
    pub hash: u64,
}

impl Target {
    /// The labels without `__`-prefixed ones: what is attached to scraped samples.
    pub fn public_labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels
            .iter()
            .filter(|l| !l.name.starts_with(RESERVED_LABEL_PREFIX))
            .map(|l| (l.name.as_str(), l.value.as_str()))
    }

    /// Hash of the public labels: the identity of the series this target produces, used to
    /// tell when a new target takes over an old one's series.
    pub fn series_key(&self) -> u64 {
        let mut buf = Vec::with_capacity(128);
        for (n, v) in self.public_labels() {
            buf.extend_from_slice(n.as_bytes());
            buf.push(0xff);
            buf.extend_from_slice(v.as_bytes());
            buf.push(0xff);
        }
        xxhash_rust::xxh3::xxh3_64(&buf)
    }

    /// Delay before the first scrape: a fixed point within the interval derived from the
    /// target's hash, so scrapes spread out and stay put across restarts (Prometheus' offset).
    pub fn offset(&self, now_unix_nanos: u128, seed: u64) -> Duration {
        let interval = self.interval.as_nanos().max(1);
        let base = interval - now_unix_nanos % interval;
        let offset = u128::from(self.hash ^ seed) % interval;
        let mut next = base + offset;
        if next > interval {
            next -= interval;
        }
        Duration::from_nanos(next.min(u128::from(u64::MAX)) as u64)
    }
}

/// What becomes of one discovered target.
#[derive(Clone, Debug, PartialEq)]
pub enum Populated {
    Target(Target),
    /// Dropped by relabeling; carries the discovered labels.
    Dropped(Labels),
    /// Not scrapeable (no address, bad interval…); the reason is logged.
    Invalid(String),
}

/// The labels before relabeling: target labels, then group labels, then the job's defaults,
/// each only where not already set.
pub fn discovered_labels(
    job: &JobConfig,
    t_labels: &BTreeMap<String, String>,
    g_labels: &BTreeMap<String, String>,
) -> LabelBuilder {
    let mut lb = LabelBuilder::new();
    for (k, v) in t_labels {
        lb.set(k, v);
    }
    for (k, v) in g_labels {
        if !t_labels.contains_key(k) {
            lb.set(k, v);
        }
    }
    let defaults = [
        (JOB_LABEL, job.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, job.scrape_interval.to_string()),
        (SCRAPE_TIMEOUT_LABEL, job.scrape_timeout.to_string()),
        (METRICS_PATH_LABEL, job.metrics_path.clone()),
        (SCHEME_LABEL, job.scheme.clone()),
    ];
    for (k, v) in defaults {
        if lb.get(k).is_empty() {
            lb.set(k, &v);
        }
    }
    for (k, vs) in &job.raw.params {
        let name = format!("{PARAM_LABEL_PREFIX}{k}");
        if let Some(v) = vs.first() {
            if lb.get(&name).is_empty() {
                lb.set(&name, v);
            }
        }
    }
    lb
}

/// Builds, relabels and checks one target.
pub fn populate(
    job: &JobConfig,
    t_labels: &BTreeMap<String, String>,
    g_labels: &BTreeMap<String, String>,
) -> Populated {
    let mut lb = discovered_labels(job, t_labels, g_labels);
    let discovered = lb.labels();
    if !relabel::process(&mut lb, &job.relabel) {
        return Populated::Dropped(discovered);
    }
    let addr = lb.get(ADDRESS_LABEL).to_string();
    if addr.is_empty() {
        return Populated::Invalid("no address".into());
    }
    if let Err(e) = check_target_address(&addr) {
        return Populated::Invalid(e);
    }
    let (interval, timeout) = match interval_and_timeout(&lb) {
        Ok(v) => v,
        Err(e) => return Populated::Invalid(e),
    };
    lb.retain_not_prefixed(META_LABEL_PREFIX);
    if lb.get(INSTANCE_LABEL).is_empty() {
        lb.set(INSTANCE_LABEL, &addr);
    }
    let labels = lb.labels();
    let url = match target_url(&labels, &job.raw.params) {
        Ok(u) => u,
        Err(e) => return Populated::Invalid(e),
    };
    let hash = target_hash(&labels, &url);
    Populated::Target(Target {
        labels,
        discovered,
        url,
        interval,
        timeout,
        hash,
    })
}

fn interval_and_timeout(lb: &LabelBuilder) -> Result<(Duration, Duration), String> {
    let parse = |name: &str, what: &str| {
        let raw = lb.get(name);
        let d =
            PromDuration::parse(raw).map_err(|e| format!("error parsing scrape {what}: {e}"))?;
        if d.as_millis() == 0 {
            return Err(format!("scrape {what} cannot be 0"));
        }
        Ok((d, raw.to_string()))
    };
    let (interval, iraw) = parse(SCRAPE_INTERVAL_LABEL, "interval")?;
    let (timeout, traw) = parse(SCRAPE_TIMEOUT_LABEL, "timeout")?;
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({traw:?} > {iraw:?})"
        ));
    }
    Ok((interval.as_std(), timeout.as_std()))
}

/// `scheme://address/path?params`, with `__param_<name>` overriding the first value of the
/// configured parameter of that name; query keys sorted as Go's `url.Values.Encode` does.
pub fn target_url(
    labels: &Labels,
    cfg_params: &BTreeMap<String, Vec<String>>,
) -> Result<String, String> {
    let mut params = cfg_params.clone();
    for l in labels.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            let vs = params.entry(name.to_string()).or_default();
            match vs.first_mut() {
                Some(first) => *first = l.value.clone(),
                None => vs.push(l.value.clone()),
            }
        }
    }
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("http");
    let host = labels.get(ADDRESS_LABEL).unwrap_or_default();
    let path = labels.get(METRICS_PATH_LABEL).unwrap_or_default();
    let slash = if path.starts_with('/') { "" } else { "/" };
    let mut url = reqwest::Url::parse(&format!("{scheme}://{host}{slash}{path}"))
        .map_err(|e| format!("invalid target URL for {host:?}: {e}"))?;
    if params.values().any(|v| !v.is_empty()) {
        let mut q = url.query_pairs_mut();
        for (k, vs) in &params {
            for v in vs {
                q.append_pair(k, v);
            }
        }
    }
    Ok(url.to_string())
}

fn target_hash(labels: &Labels, url: &str) -> u64 {
    let mut buf = Vec::with_capacity(256);
    for l in labels.iter() {
        buf.extend_from_slice(l.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(l.value.as_bytes());
        buf.push(0xff);
    }
    buf.extend_from_slice(url.as_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf)
}

/// Turns groups into targets: active ones deduplicated by hash, dropped ones, and errors.
pub fn targets_from_groups<'a>(
    job: &JobConfig,
    groups: impl IntoIterator<Item = &'a TargetGroup>,
) -> (Vec<Target>, Vec<Labels>, Vec<String>) {
    let mut active: Vec<Target> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut dropped = Vec::new();
    let mut errors = Vec::new();
    for g in groups {
        for (i, t) in g.targets.iter().enumerate() {
            match populate(job, t, &g.labels) {
                Populated::Target(t) => {
                    if seen.insert(t.hash) {
                        active.push(t);
                    }
                }
                Populated::Dropped(d) => dropped.push(d),
                Populated::Invalid(e) => {
                    errors.push(format!("instance {i} in group {}: {e}", g.source))
                }
            }
        }
    }
    (active, dropped, errors)
}

#[cfg(test)]
mod tests;
