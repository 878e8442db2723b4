//! The typed configuration: defaults, then the YAML file, then `WEFT_*` environment variables,
//! then command-line flags. `docs/configuration.md` is generated from these types
//! (`weft config-reference`) and a test keeps it in sync.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use figment::providers::{Env, Format, Serialized, Yaml};
use figment::Figment;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_metrics::store::MetricStoreConfig;
use weft_scrape::ScrapeConfigFile;
use weft_servicegraph::GeneratorConfig;
use weft_traces::TraceStoreConfig;

/// Weft's configuration file.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding the WAL and all stores. Created if missing.
    pub data_dir: PathBuf,
    /// Log filter in `tracing` syntax, e.g. `info` or `weft=debug,info`.
    pub log_level: String,
    /// Query API and status endpoints (Tempo-compatible, `/metrics`, `/ready`).
    pub server: ServerConfig,
    /// OTLP receivers.
    pub receivers: ReceiversConfig,
    /// The write-ahead log shared by all stores.
    pub wal: WalConfig,
    /// Multi-tenancy (`X-Scope-OrgID`).
    pub tenancy: TenancyConfig,
    /// The trace store.
    pub traces: TraceStoreConfig,
    /// The metric store (Prometheus remote write, OTLP metrics, PromQL).
    pub metrics: MetricStoreConfig,
    /// Targets to scrape, in Prometheus' own syntax: `global` (`scrape_interval`,
    /// `scrape_timeout`) and `scrape_configs` (static and file service discovery,
    /// relabeling, auth, TLS, limits), exactly as in a `prometheus.yml`. Relative file paths
    /// are relative to the config file.
    #[schemars(with = "serde_json::Value")]
    pub scrape: ScrapeConfigFile,
    /// Service graph and span metrics derived from every trace received, with Tempo's
    /// metrics-generator names and semantics (`traces_service_graph_*`, `traces_spanmetrics_*`),
    /// written into the metric store.
    pub service_graph: GeneratorConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./weft-data"),
            log_level: "info".into(),
            server: ServerConfig::default(),
            receivers: ReceiversConfig::default(),
            wal: WalConfig::default(),
            tenancy: TenancyConfig::default(),
            traces: TraceStoreConfig::default(),
            metrics: MetricStoreConfig::default(),
            scrape: ScrapeConfigFile::default(),
            service_graph: GeneratorConfig::default(),
        }
    }
}

/// The HTTP query server.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the query API (Tempo's default port is 3200).
    #[schemars(with = "String")]
    pub http_addr: SocketAddr,
    /// How long shutdown waits for in-flight requests before closing connections.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: ([0, 0, 0, 0], 3200).into(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// OTLP receivers.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiversConfig {
    /// OTLP/gRPC listen address.
    #[schemars(with = "String")]
    pub otlp_grpc_addr: SocketAddr,
    /// OTLP/HTTP listen address.
    #[schemars(with = "String")]
    pub otlp_http_addr: SocketAddr,
    /// Largest accepted message after decompression (the OTLP spec recommends 64 MiB; gRPC's
    /// usual 4 MiB makes collectors drop batches).
    #[schemars(with = "String")]
    pub max_message_bytes: ByteSize,
    /// Spans that started or ended longer ago than this are refused.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_past: Duration,
    /// Spans with timestamps further in the future than this are refused.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_future: Duration,
    /// How OTLP metrics become Prometheus series.
    pub otlp_metrics: OtlpMetricsConfig,
}

/// Translation of OTLP metrics into Prometheus series (the OpenTelemetry compatibility rules).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpMetricsConfig {
    /// Keep metric and label names as sent (UTF-8) instead of replacing characters outside
    /// `[a-zA-Z0-9_:]` with `_`. Unit and `_total` suffixes are added either way.
    pub utf8_names: bool,
    /// Resource attributes copied as labels onto every series of the resource (they stay in
    /// `target_info` too), e.g. `[k8s.namespace.name, deployment.environment]`.
    pub promote_resource_attributes: Vec<String>,
    /// Write one `target_info` series per resource with its remaining attributes.
    pub target_info: bool,
    /// Write `<name>_created` series with the start time of cumulative series.
    pub created_series: bool,
}

impl Default for OtlpMetricsConfig {
    fn default() -> Self {
        Self {
            utf8_names: false,
            promote_resource_attributes: Vec::new(),
            target_info: true,
            created_series: false,
        }
    }
}

impl OtlpMetricsConfig {
    /// The translator's options.
    pub fn to_options(&self) -> weft_ingest::otlp_metrics::TranslateOptions {
        weft_ingest::otlp_metrics::TranslateOptions {
            utf8_names: self.utf8_names,
            promote_resource_attributes: self.promote_resource_attributes.clone(),
            emit_target_info: self.target_info,
            emit_created: self.created_series,
        }
    }
}

impl Default for ReceiversConfig {
    fn default() -> Self {
        Self {
            otlp_grpc_addr: ([0, 0, 0, 0], 4317).into(),
            otlp_http_addr: ([0, 0, 0, 0], 4318).into(),
            max_message_bytes: ByteSize::mib(64),
            max_past: Duration::from_secs(14 * 24 * 3600),
            max_future: Duration::from_secs(3600),
            otlp_metrics: OtlpMetricsConfig::default(),
        }
    }
}

/// When the WAL forces data to disk before a write is acknowledged.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FsyncMode {
    /// fdatasync every commit group before acknowledging (safe against power loss).
    Always,
    /// Acknowledge after write(2) and fdatasync every `fsync_interval` (survives a process
    /// crash, may lose the last interval on power loss).
    Interval,
    /// Never fdatasync except when a segment is closed (survives a process crash only).
    Never,
}

/// The write-ahead log.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// Durability policy for acknowledged writes.
    pub fsync: FsyncMode,
    /// Period of the background fdatasync when `fsync: interval`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub fsync_interval: Duration,
    /// Size at which a WAL segment is closed and a new one started.
    #[schemars(with = "String")]
    pub segment_bytes: ByteSize,
    /// Bytes queued for the WAL writer beyond which writes are refused as retryable
    /// (HTTP 503 / gRPC UNAVAILABLE).
    #[schemars(with = "String")]
    pub max_pending_bytes: ByteSize,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            fsync: FsyncMode::Always,
            fsync_interval: Duration::from_millis(100),
            segment_bytes: ByteSize::mib(128),
            max_pending_bytes: ByteSize::mib(256),
        }
    }
}

impl WalConfig {
    pub fn to_options(&self, max_record_bytes: u64) -> weft_wal::WalOptions {
        let fsync = match self.fsync {
            FsyncMode::Always => weft_wal::FsyncPolicy::Always,
            FsyncMode::Interval => weft_wal::FsyncPolicy::Interval {
                millis: self.fsync_interval.as_millis().max(1) as u64,
            },
            FsyncMode::Never => weft_wal::FsyncPolicy::Never,
        };
        weft_wal::WalOptions {
            fsync,
            segment_size_bytes: self.segment_bytes.as_u64(),
            max_pending_bytes: self.max_pending_bytes.as_u64(),
            // A record is one request plus a few bytes of framing.
            max_record_bytes: max_record_bytes + 4096,
            skip_corrupt: false,
        }
    }
}

/// Multi-tenancy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TenancyConfig {
    /// When non-empty, only these tenants (and the default `single-tenant`) are accepted;
    /// others get 403 / PERMISSION_DENIED.
    pub allowed: Vec<String>,
}

/// Values given on the command line; they win over the file and the environment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_grpc_addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_http_addr: Option<SocketAddr>,
}

/// A configuration error that names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Loads the configuration: defaults < file < `WEFT_*` env (nested keys joined by `__`, e.g.
/// `WEFT_TRACES__RETENTION=7d`) < flags.
pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Yaml::file_exact(path));
    }
    figment = figment.merge(config_env());
    figment = merge_flags(figment, flags);
    let mut cfg: Config = figment.extract().map_err(describe)?;
    cfg.scrape
        .validate()
        .map_err(|e| ConfigError(format!("invalid configuration at key `scrape`: {e}")))?;
    let base = file
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    cfg.scrape.resolve_paths(base);
    weft_servicegraph::Generators::new(cfg.service_graph.clone())
        .map_err(|e| ConfigError(format!("invalid configuration at key `service_graph`: {e}")))?;
    Ok(cfg)
}

/// `WEFT_*` variables that name a configuration section or key. Other `WEFT_*` variables
/// (`WEFT_CONFIG`, or ones a test harness sets) are not configuration and are ignored rather
/// than rejected as unknown keys.
fn config_env() -> Env {
    let top_level: Vec<String> = match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    Env::prefixed("WEFT_")
        .filter(move |k| {
            let key = k.as_str().to_ascii_lowercase();
            let first = key.split("__").next().unwrap_or_default();
            top_level.iter().any(|t| t == first)
        })
        .map(|k| k.as_str().to_ascii_lowercase().into())
        .split("__")
}

fn merge_flags(mut figment: Figment, flags: &FlagOverrides) -> Figment {
    if let Some(dir) = &flags.data_dir {
        figment = figment.merge(Serialized::default("data_dir", dir));
    }
    if let Some(level) = &flags.log_level {
        figment = figment.merge(Serialized::default("log_level", level));
    }
    if let Some(addr) = flags.http_addr {
        figment = figment.merge(Serialized::default("server.http_addr", addr));
    }
    if let Some(addr) = flags.otlp_grpc_addr {
        figment = figment.merge(Serialized::default("receivers.otlp_grpc_addr", addr));
    }
    if let Some(addr) = flags.otlp_http_addr {
        figment = figment.merge(Serialized::default("receivers.otlp_http_addr", addr));
    }
    figment
}

/// Turns figment's errors into one line per problem, each naming the key path and source.
fn describe(err: figment::Error) -> ConfigError {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                "(top level)".to_string()
            } else {
                e.path.join(".")
            };
            let source = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref().map(|s| format!(" (from {s})")))
                .unwrap_or_default();
            format!("invalid configuration at key `{key}`{source}: {}", e.kind)
        })
        .collect();
    ConfigError(lines.join("\n"))
}

#[cfg(test)]
// figment's Jail closures return figment::Error, which is large; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn write(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, content.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_without_a_file() {
        // Jail serialises tests that read the process environment.
        figment::Jail::expect_with(|_| {
            let cfg = load(None, &FlagOverrides::default()).unwrap();
            assert_eq!(cfg, Config::default());
            assert_eq!(cfg.server.http_addr.port(), 3200);
            assert_eq!(cfg.receivers.otlp_grpc_addr.port(), 4317);
            assert_eq!(cfg.receivers.otlp_http_addr.port(), 4318);
            assert_eq!(cfg.data_dir, PathBuf::from("./weft-data"));
            Ok(())
        });
    }

    #[test]
    fn file_values_and_flags_layer() {
        // Jail serialises tests that read the process environment.
        figment::Jail::expect_with(|_| {
            let f = write("data_dir: /tmp/x\ntraces:\n  retention: 7d\n  max_bytes: 10GiB\nwal:\n  fsync: never\n");
            let flags = FlagOverrides {
                data_dir: Some("/tmp/y".into()),
                ..Default::default()
            };
            let cfg = load(Some(f.path()), &flags).unwrap();
            assert_eq!(cfg.data_dir, PathBuf::from("/tmp/y"));
            assert_eq!(cfg.traces.retention, Duration::from_secs(7 * 86400));
            assert_eq!(cfg.traces.max_bytes, ByteSize::gib(10));
            assert_eq!(cfg.wal.fsync, FsyncMode::Never);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_and_unrelated_weft_variables() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WEFT_TRACES__RETENTION", "2d");
            jail.set_env("WEFT_DATA_DIR", "/srv/weft");
            jail.set_env("WEFT_BIN", "/not/config");
            jail.set_env("WEFT_CONFIG", "/etc/weft.yaml");
            let cfg = load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(cfg.traces.retention, Duration::from_secs(2 * 86400));
            assert_eq!(cfg.data_dir, PathBuf::from("/srv/weft"));
            jail.set_env("WEFT_TRACES__NOPE", "1");
            let err = load(None, &FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("nope"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn printed_defaults_load_back_unchanged() {
        // Jail serialises tests that read the process environment.
        figment::Jail::expect_with(|_| {
            let yaml = serde_yaml::to_string(&Config::default()).unwrap();
            let f = write(&yaml);
            assert_eq!(
                load(Some(f.path()), &FlagOverrides::default()).unwrap(),
                Config::default()
            );
            Ok(())
        });
    }

    #[test]
    fn errors_name_the_offending_key() {
        // Jail serialises tests that read the process environment.
        figment::Jail::expect_with(|_| {
            let f = write("traces:\n  retention: forever\n");
            let err = load(Some(f.path()), &FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("`traces.retention`"), "{err}");
            let f = write("traces:\n  retension: 7d\n");
            let err = load(Some(f.path()), &FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("retension"), "{err}");
            let f = write("receivers:\n  otlp_grpc_addr: nowhere\n");
            let err = load(Some(f.path()), &FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("`receivers.otlp_grpc_addr`"), "{err}");
            Ok(())
        });
    }
}
