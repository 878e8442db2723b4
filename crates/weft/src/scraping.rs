//! Scraping wired into the server: scrapes go through the metric pipeline (head, WAL) like
//! any other write, and the scrape manager's state is exposed on `/api/v1/targets` and
//! `/metrics`.

use std::sync::Arc;

use weft_core::telemetry::{Sample, SampleKind, SnapshotSource};
use weft_core::TenantId;
use weft_ingest::{IngestError, MetricPipeline};
use weft_metrics::model::{Metadata, MetricType, MetricWrite, SeriesWrite};
use weft_scrape::{MetricMetadata, ScrapeManager, ScrapeSink, ScrapedSample, SinkError};

/// Writes each scrape as one metric write (one WAL record).
pub struct ScrapeWriter(pub Arc<MetricPipeline>);

impl ScrapeSink for ScrapeWriter {
    async fn append(
        &self,
        tenant: &str,
        samples: Vec<ScrapedSample>,
        metadata: Vec<MetricMetadata>,
    ) -> Result<(), SinkError> {
        let tenant = TenantId::parse(tenant).map_err(|e| SinkError {
            message: e.to_string(),
            retryable: false,
        })?;
        let write = to_write(samples, metadata);
        match self.0.write(&tenant, &write, "scrape").await {
            Ok(_) => Ok(()),
            Err(err) => Err(SinkError {
                retryable: matches!(
                    err,
                    IngestError::Unavailable { .. } | IngestError::Storage(_)
                ),
                message: err.to_string(),
            }),
        }
    }
}

fn to_write(samples: Vec<ScrapedSample>, metadata: Vec<MetricMetadata>) -> MetricWrite {
    MetricWrite {
        series: samples
            .into_iter()
            .map(|s| SeriesWrite {
                labels: s.labels,
                samples: vec![(s.t_ms, s.value)],
                histograms: Vec::new(),
                exemplars: Vec::new(),
            })
            .collect(),
        metadata: metadata
            .into_iter()
            .map(|m| Metadata {
                metric: m.metric,
                kind: MetricType::parse(m.kind),
                help: m.help,
                unit: m.unit,
            })
            .collect(),
    }
}

/// `/api/v1/targets` data as JSON.
pub fn targets_json(manager: &ScrapeManager<ScrapeWriter>) -> String {
    serde_json::to_string(&manager.targets()).unwrap_or_else(|_| "{}".to_string())
}

/// Reports the scrape manager's counters on `/metrics`.
pub struct ScrapeSnapshot(pub ScrapeManager<ScrapeWriter>);

impl SnapshotSource for ScrapeSnapshot {
    fn samples(&self) -> Vec<Sample> {
        let m = self.0.metrics();
        let sample = |name, help, kind, labels: Vec<(String, String)>, value: u64| Sample {
            name,
            help,
            kind,
            labels,
            value: value as f64,
        };
        use SampleKind::{Counter, Gauge};
        let mut out = vec![
            sample(
                "scrapes",
                "Scrapes attempted.",
                Counter,
                vec![],
                m.scrapes_total,
            ),
            sample(
                "scrape_samples_appended",
                "Scraped samples stored, report series and stale markers included.",
                Counter,
                vec![],
                m.samples_appended_total,
            ),
            sample(
                "scrape_stale_markers",
                "Stale markers written for vanished series and targets.",
                Counter,
                vec![],
                m.stale_markers_total,
            ),
            sample(
                "scrape_sink_errors",
                "Scrapes whose samples could not be stored.",
                Counter,
                vec![],
                m.sink_errors_total,
            ),
            sample(
                "scrape_targets_active",
                "Targets being scraped.",
                Gauge,
                vec![],
                m.active_targets,
            ),
            sample(
                "scrape_targets_dropped",
                "Discovered targets dropped by relabeling.",
                Gauge,
                vec![],
                m.dropped_targets,
            ),
        ];
        for (reason, n) in m.scrape_failures_total {
            out.push(sample(
                "scrape_failures",
                "Failed scrapes by reason.",
                Counter,
                vec![("reason".to_string(), reason.to_string())],
                n,
            ));
        }
        out
    }
}
