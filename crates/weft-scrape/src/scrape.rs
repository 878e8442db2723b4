//! One target's scrape loop: fetch, parse, label, limit, stale-mark, report, append.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use weft_core::labels::{Labels, METRIC_NAME};
use weft_ingest::exposition::{self, MetricType, Scrape};

use crate::client;
use crate::config::JobConfig;
use crate::metrics::SelfMetrics;
use crate::relabel::{self, LabelBuilder};
use crate::sink::{stale_nan, MetricMetadata, ScrapeSink, ScrapedSample};
use crate::target::Target;
use crate::ScrapeError;

const EXPORTED_PREFIX: &str = "exported_";

/// The report series, their metadata help text, in Prometheus' order.
const REPORT_SERIES: [(&str, &str); 5] = [
    (
        "up",
        "Health of the scrape target. 1 if the target is up, 0 otherwise.",
    ),
    (
        "scrape_duration_seconds",
        "Duration of the scrape in seconds.",
    ),
    (
        "scrape_samples_scraped",
        "The number of samples the target exposed.",
    ),
    (
        "scrape_samples_post_metric_relabeling",
        "The number of samples remaining after metric relabeling was applied.",
    ),
    (
        "scrape_series_added",
        "The approximate number of new series in this scrape.",
    ),
];

/// Health of a target as `/api/v1/targets` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    #[default]
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The outcome of a target's last scrape.
#[derive(Clone, Debug, Default)]
pub struct TargetStatus {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
}

/// The job config and client shared by a pool's loops; replaced as a whole on reload.
pub struct PoolShared {
    pub job: Arc<JobConfig>,
    pub client: reqwest::Client,
}

/// How a loop was told to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The target is gone: write stale markers after a grace period.
    Removed,
    /// The process is shutting down: write nothing more.
    Shutdown,
}

/// Waits until the value is true or the sender is gone.
async fn until_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// The two ways to stop a loop.
struct Signals {
    removed: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
}

impl Signals {
    async fn wait(&mut self) -> Stop {
        tokio::select! {
            biased;
            _ = until_true(&mut self.shutdown) => Stop::Shutdown,
            r = self.removed.wait_for(|v| *v) => match r {
                Ok(_) => Stop::Removed,
                // The manager is gone without a shutdown; treat it as one (write nothing).
                Err(_) => Stop::Shutdown,
            },
        }
    }
}

/// Counts Prometheus reports about a scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub added: usize,
    pub series_added: usize,
}

/// The result of turning a parsed scrape into samples.
#[derive(Debug)]
pub struct Processed {
    pub samples: Vec<ScrapedSample>,
    /// Series subject to staleness (those without an honoured explicit timestamp).
    pub tracked: HashSet<Labels>,
    pub counts: Counts,
    pub metadata: Vec<MetricMetadata>,
}

/// Adds the target's labels to a scraped label set and applies metric relabeling; `None`
/// means the sample is dropped. With `honor_labels` the scraped value wins; otherwise the
/// target's does and the scraped one moves to `exported_<name>` (prefixing again while taken).
pub fn mutate_sample_labels(
    scraped: &Labels,
    target: &Target,
    honor_labels: bool,
    rules: &[relabel::RelabelRule],
) -> Option<Labels> {
    let mut lb = LabelBuilder::from_labels(scraped);
    if honor_labels {
        for (n, v) in target.public_labels() {
            if scraped.get(n).is_none() {
                lb.set(n, v);
            }
        }
    } else {
        let mut conflicts = Vec::new();
        for (n, v) in target.public_labels() {
            if let Some(existing) = scraped.get(n) {
                conflicts.push((n, existing));
            }
            lb.set(n, v);
        }
        // Shorter names first, so `exported_a` from `a` is placed before `exported_a` as
        // scraped gets pushed further — Prometheus' order.
        conflicts.sort_by_key(|(n, _)| n.len());
        for (name, value) in conflicts {
            let mut new_name = name.to_string();
            loop {
                new_name.insert_str(0, EXPORTED_PREFIX);
                if lb.get(&new_name).is_empty() {
                    lb.set(&new_name, value);
                    break;
                }
            }
        }
    }
    if !relabel::process(&mut lb, rules) || lb.is_empty() {
        return None;
    }
    Some(lb.labels())
}

/// Prometheus' `verifyLabelLimits`.
fn check_label_limits(labels: &Labels, job: &JobConfig) -> Result<(), ScrapeError> {
    let raw = &job.raw;
    let metric: String = labels
        .metric_name()
        .unwrap_or("")
        .chars()
        .take(50)
        .collect();
    if raw.label_limit > 0 && labels.len() as u64 > raw.label_limit {
        return Err(ScrapeError::LabelLimit(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            raw.label_limit
        )));
    }
    for l in labels.iter() {
        if raw.label_name_length_limit > 0 && l.name.len() as u64 > raw.label_name_length_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {}, length: {}, limit: {})",
                l.name,
                l.name.len(),
                raw.label_name_length_limit
            )));
        }
        if raw.label_value_length_limit > 0 && l.value.len() as u64 > raw.label_value_length_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {}, length: {}, limit: {})",
                l.name,
                l.value.len(),
                raw.label_value_length_limit
            )));
        }
    }
    Ok(())
}

fn metadata_of(scrape: &Scrape) -> Vec<MetricMetadata> {
    scrape
        .families
        .iter()
        .map(|f| MetricMetadata {
            metric: f.name.clone(),
            kind: match f.kind {
                MetricType::Untyped => "unknown",
                k => k.as_str(),
            },
            help: f.help.clone().unwrap_or_default(),
            unit: f.unit.clone().unwrap_or_default(),
        })
        .collect()
}

/// Turns a parsed scrape into final samples at `t_ms`, enforcing the job's limits. On error
/// the counts so far are returned with it (the whole scrape is discarded, as in Prometheus).
pub fn process_scrape(
    scrape: Scrape,
    target: &Target,
    job: &JobConfig,
    t_ms: i64,
    prev: &HashSet<Labels>,
) -> Result<Processed, (ScrapeError, Counts)> {
    let raw = &job.raw;
    let mut counts = Counts::default();
    let mut samples = Vec::with_capacity(scrape.samples.len());
    let mut tracked = HashSet::with_capacity(scrape.samples.len());
    let mut sample_limit_hit = false;
    let metadata = metadata_of(&scrape);
    for s in scrape.samples {
        counts.total += 1;
        let explicit = s.timestamp_ms.filter(|_| job.honor_timestamps);
        let Some(labels) =
            mutate_sample_labels(&s.labels, target, raw.honor_labels, &job.metric_relabel)
        else {
            continue;
        };
        if labels.get(METRIC_NAME).is_none_or(str::is_empty) {
            return Err((
                ScrapeError::InvalidSample("__name__ label is missing after relabeling".into()),
                counts,
            ));
        }
        check_label_limits(&labels, job).map_err(|e| (e, counts))?;
        counts.added += 1;
        // A second sample for a series without its own timestamp would collide with the
        // first at the same time; Prometheus drops it as a duplicate.
        if explicit.is_none() && tracked.contains(&labels) {
            continue;
        }
        if raw.sample_limit > 0 && samples.len() as u64 >= raw.sample_limit {
            // Keep counting so the report says how many samples there were.
            sample_limit_hit = true;
            continue;
        }
        if !prev.contains(&labels) && !tracked.contains(&labels) {
            counts.series_added += 1;
        }
        if explicit.is_none() {
            tracked.insert(labels.clone());
        }
        samples.push(ScrapedSample {
            labels,
            t_ms: explicit.unwrap_or(t_ms),
            value: s.value,
        });
    }
    if sample_limit_hit {
        return Err((ScrapeError::SampleLimit, counts));
    }
    Ok(Processed {
        samples,
        tracked,
        counts,
        metadata,
    })
}

/// Parses a fetched body by its content type and processes it.
fn parse_and_process(
    f: client::Fetched,
    target: &Target,
    job: &JobConfig,
    t_ms: i64,
    prev: &HashSet<Labels>,
) -> Result<Processed, (ScrapeError, Counts)> {
    let format = exposition::format_from_content_type(f.content_type.as_deref());
    let scrape = exposition::parse(&f.body, format)
        .map_err(|e| (ScrapeError::Parse(e.to_string()), Counts::default()))?;
    process_scrape(scrape, target, job, t_ms, prev)
}

/// Report series label sets: `__name__` plus the target's public labels (which win).
fn report_labels(target: &Target) -> Vec<Labels> {
    REPORT_SERIES
        .iter()
        .map(|(name, _)| {
            let mut lb = LabelBuilder::new();
            lb.set(METRIC_NAME, name);
            for (n, v) in target.public_labels() {
                lb.set(n, v);
            }
            lb.labels()
        })
        .collect()
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Everything a scrape loop needs.
pub(crate) struct LoopParts<S> {
    pub target: Arc<Target>,
    pub shared: Arc<RwLock<Arc<PoolShared>>>,
    pub sink: Arc<S>,
    pub tenant: Arc<str>,
    pub metrics: Arc<SelfMetrics>,
    pub status: Arc<Mutex<TargetStatus>>,
    pub removed: watch::Receiver<bool>,
    pub shutdown: watch::Receiver<bool>,
    /// Set when the same target comes back before end-of-run stale markers are written.
    pub cancel_stale: Arc<AtomicBool>,
    pub offset_seed: u64,
}

/// One scrape's result, ready for the report and the sink.
struct Outcome {
    /// Samples and stale markers (report series are added later).
    batch: Vec<ScrapedSample>,
    n_stale: usize,
    counts: Counts,
    families: Vec<MetricMetadata>,
    err: Option<ScrapeError>,
}

/// A running loop's state.
pub(crate) struct ScrapeLoop<S> {
    p: LoopParts<S>,
    prev: HashSet<Labels>,
    report_labels: Vec<Labels>,
    last_metadata: Vec<MetricMetadata>,
    report_metadata_sent: bool,
}

impl<S: ScrapeSink> ScrapeLoop<S> {
    pub(crate) fn new(p: LoopParts<S>) -> Self {
        let report_labels = report_labels(&p.target);
        Self {
            p,
            prev: HashSet::new(),
            report_labels,
            last_metadata: Vec::new(),
            report_metadata_sent: false,
        }
    }

    /// Runs until stopped; a removed target gets end-of-run stale markers.
    pub(crate) async fn run(mut self) {
        let mut signals = Signals {
            removed: self.p.removed.clone(),
            shutdown: self.p.shutdown.clone(),
        };
        let interval = self.p.target.interval;
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let offset = self.p.target.offset(now_ns, self.p.offset_seed);
        tokio::select! {
            _ = tokio::time::sleep(offset) => {}
            _ = signals.wait() => return,
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let aligned_start = unix_ms(SystemTime::now());
        let mut scraped_once = false;
        let stop = loop {
            tokio::select! {
                biased;
                s = signals.wait() => break s,
                _ = ticker.tick() => {}
            }
            let t_ms = aligned_time(aligned_start, interval, unix_ms(SystemTime::now()));
            if let Some(s) = self.scrape_and_report(t_ms, &mut signals).await {
                break s;
            }
            scraped_once = true;
        };
        if stop == Stop::Removed && scraped_once {
            self.end_of_run_staleness(ticker).await;
        }
    }

    /// One scrape; returns `Some` if a stop signal interrupted the request.
    async fn scrape_and_report(&mut self, t_ms: i64, signals: &mut Signals) -> Option<Stop> {
        let shared = self.p.shared.read().clone();
        let target = self.p.target.clone();
        let start = Instant::now();
        self.p.metrics.scrape();
        let fetched = tokio::select! {
            r = client::fetch(&shared.client, &shared.job, &target.url, target.timeout) => r,
            s = signals.wait() => return Some(s),
        };
        let result = fetched
            .map_err(|e| (e, Counts::default()))
            .and_then(|f| parse_and_process(f, &target, &shared.job, t_ms, &self.prev));
        let duration = start.elapsed();
        let Outcome {
            mut batch,
            n_stale,
            counts,
            families,
            err,
        } = self.samples_and_stale(result, t_ms);
        let up = if err.is_none() { 1.0 } else { 0.0 };
        self.push_report(
            &mut batch,
            t_ms,
            [
                up,
                duration.as_secs_f64(),
                counts.total as f64,
                counts.added as f64,
                counts.series_added as f64,
            ],
        );
        let metadata = self.metadata_to_send(families);
        if let Some(e) = &err {
            self.p.metrics.failure(e.reason());
            tracing::debug!(target_url = %target.url, error = %e, "scrape failed");
        }
        // Status first, as Prometheus reports before committing: whoever sees the data also
        // sees the status that goes with it.
        self.set_status(t_ms, duration, err);
        self.append(batch, n_stale, metadata).await;
        None
    }

    /// The scrape's samples plus stale markers (at `t_ms`) for tracked series that are gone;
    /// a failed scrape counts as empty, so all of the previous scrape's series go stale.
    fn samples_and_stale(
        &mut self,
        result: Result<Processed, (ScrapeError, Counts)>,
        t_ms: i64,
    ) -> Outcome {
        let (mut batch, tracked, counts, families, err) = match result {
            Ok(p) => (p.samples, p.tracked, p.counts, p.metadata, None),
            Err((e, counts)) => (Vec::new(), HashSet::new(), counts, Vec::new(), Some(e)),
        };
        let prev = std::mem::replace(&mut self.prev, tracked);
        let before = batch.len();
        batch.extend(
            prev.into_iter()
                .filter(|l| !self.prev.contains(l))
                .map(|labels| ScrapedSample {
                    labels,
                    t_ms,
                    value: stale_nan(),
                }),
        );
        let n_stale = batch.len() - before;
        Outcome {
            batch,
            n_stale,
            counts,
            families,
            err,
        }
    }

    /// Appends `up`, `scrape_duration_seconds`, … with the target's labels.
    fn push_report(&self, batch: &mut Vec<ScrapedSample>, t_ms: i64, values: [f64; 5]) {
        for (labels, value) in self.report_labels.iter().zip(values) {
            batch.push(ScrapedSample {
                labels: labels.clone(),
                t_ms,
                value,
            });
        }
    }

    fn set_status(&self, t_ms: i64, duration: Duration, err: Option<ScrapeError>) {
        let mut st = self.p.status.lock();
        st.health = if err.is_none() {
            Health::Up
        } else {
            Health::Down
        };
        st.last_error = err.map(|e| e.to_string()).unwrap_or_default();
        st.last_scrape = Some(UNIX_EPOCH + Duration::from_millis(t_ms.max(0) as u64));
        st.last_scrape_duration = duration;
    }

    /// Metadata goes out when it differs from what was last sent (the first time: all of it,
    /// plus the report series').
    fn metadata_to_send(&mut self, families: Vec<MetricMetadata>) -> Vec<MetricMetadata> {
        let mut out = Vec::new();
        if !self.report_metadata_sent {
            self.report_metadata_sent = true;
            out.extend(REPORT_SERIES.iter().map(|(name, help)| MetricMetadata {
                metric: name.to_string(),
                kind: "gauge",
                help: help.to_string(),
                unit: String::new(),
            }));
        }
        if !families.is_empty() && families != self.last_metadata {
            out.extend(families.iter().cloned());
            self.last_metadata = families;
        }
        out
    }

    /// Hands a batch to the sink, retrying retryable errors a few times.
    async fn append(
        &self,
        batch: Vec<ScrapedSample>,
        n_stale: usize,
        metadata: Vec<MetricMetadata>,
    ) {
        let n = batch.len() as u64;
        let mut delay = Duration::from_millis(50);
        for attempt in 0..3 {
            match self
                .p
                .sink
                .append(&self.p.tenant, batch.clone(), metadata.clone())
                .await
            {
                Ok(()) => {
                    self.p.metrics.appended(n, n_stale as u64);
                    return;
                }
                Err(e) if e.retryable && attempt < 2 => {
                    self.p.metrics.sink_retry();
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    self.p.metrics.sink_error();
                    tracing::warn!(target_url = %self.p.target.url, error = %e, "appending scrape failed");
                    return;
                }
            }
        }
    }

    /// After removal, waits until two scrapes would have happened (plus 10%) so that a target
    /// that merely moved can take over, then marks every series stale at the time the next
    /// scrape would have been. Shutdown or the target's return cancels this.
    async fn end_of_run_staleness(&mut self, mut ticker: tokio::time::Interval) {
        let interval = self.p.target.interval;
        let mut shutdown = self.p.shutdown.clone();
        let stale_ms = tokio::select! {
            _ = until_true(&mut shutdown) => return,
            _ = ticker.tick() => unix_ms(SystemTime::now()),
        };
        tokio::select! {
            _ = until_true(&mut shutdown) => return,
            _ = async { ticker.tick().await; tokio::time::sleep(interval / 10).await } => {}
        }
        if self.p.cancel_stale.load(Ordering::Acquire) {
            return;
        }
        let batch: Vec<ScrapedSample> = self
            .prev
            .iter()
            .chain(self.report_labels.iter())
            .map(|labels| ScrapedSample {
                labels: labels.clone(),
                t_ms: stale_ms,
                value: stale_nan(),
            })
            .collect();
        let n = batch.len();
        self.append(batch, n, Vec::new()).await;
    }
}

/// Snaps `now` to the loop's grid when within min(1% of the interval, 2 ms), as Prometheus
/// does, so that timestamps are regular and compress well.
fn aligned_time(start_ms: i64, interval: Duration, now_ms: i64) -> i64 {
    let iv = interval.as_millis().max(1) as i64;
    let tolerance = (iv / 100).min(2);
    let since = now_ms - start_ms;
    if since < 0 {
        return now_ms;
    }
    let grid = start_ms + since / iv * iv;
    if now_ms - grid <= tolerance {
        grid
    } else {
        now_ms
    }
}

#[cfg(test)]
mod tests;
