//! Scraping: what Prometheus' scrape manager does, configured with Prometheus'
//! `scrape_configs` YAML.
//!
//! Data flow: a [`ScrapeConfigFile`] (`global` + `scrape_configs`) is validated into one
//! [`config::JobConfig`] per job. The [`ScrapeManager`] keeps a pool per job whose target
//! groups come from `static_configs` and `file_sd_configs` ([`discovery`]); each discovered
//! target is labelled and relabelled into a [`target::Target`] ([`target`], [`relabel`]). Every
//! target gets a tokio task ([`scrape`]) that, at a fixed offset within its interval, fetches
//! the target over HTTP ([`client`]), parses the body with weft-ingest's exposition parser,
//! merges target labels, applies `metric_relabel_configs` and limits, adds stale markers for
//! series that vanished and the `up`/`scrape_*` report series, and hands the whole scrape to
//! the server's [`ScrapeSink`] as one batch. [`ScrapeManager::targets`] and
//! [`ScrapeManager::metrics`] expose target status and self-metrics.
//!
//! HTTP client: `reqwest` (rustls, gzip) because it gives connection pooling, transparent gzip,
//! redirects and a pluggable rustls config, which would otherwise be hand-built on hyper;
//! `rustls`/`webpki-roots` are direct dependencies only to build that config ([`tls`]:
//! `server_name`, `insecure_skip_verify`, client certificates).
//!
//! Wiring it into a server:
//! 1. Read the config (`ScrapeConfigFile::from_yaml`, or embed [`ScrapeConfigFile`] in the
//!    server's own config and call [`ScrapeConfigFile::validate`]); call
//!    [`ScrapeConfigFile::resolve_paths`] with the config file's directory.
//! 2. Implement [`ScrapeSink`] (append each batch to the WAL as one record).
//! 3. Inside the tokio runtime: `ScrapeManager::start(&cfg, sink, shutdown_rx, opts)`.
//! 4. On reload: `manager.apply_config(&new_cfg)` (an error leaves everything running as
//!    before). Serve `manager.targets()` as `/api/v1/targets` data and append
//!    `manager.metrics().render()` to `/metrics`.
//! 5. On shutdown: send `true` on the watch channel, then `manager.stopped().await`, then
//!    close the WAL. No stale markers are written for a shutdown.

pub mod client;
pub mod config;
pub mod discovery;
mod error;
pub mod manager;
mod md5;
pub mod metrics;
pub mod relabel;
pub mod scrape;
pub mod sink;
pub mod target;
pub mod tls;

pub use config::{JobConfig, PromDuration, ScrapeConfig, ScrapeConfigFile};
pub use error::ScrapeError;
pub use manager::{ActiveTarget, DroppedTarget, ManagerOptions, ScrapeManager, TargetsSnapshot};
pub use metrics::SelfMetricsSnapshot;
pub use sink::{
    is_stale_nan, stale_nan, MetricMetadata, ScrapeSink, ScrapedSample, SinkError, STALE_NAN_BITS,
};
