//! Prometheus' `global` + `scrape_configs` YAML, as serde types plus validation.
//!
//! The serde types keep absent fields as `None` so that defaults can depend on `global`;
//! [`ScrapeConfigFile::jobs`] validates everything and yields one resolved [`JobConfig`] per
//! job, which is what the manager runs. Unknown keys are rejected by serde (the message names
//! the key and its line); semantic errors name the job and the field.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::relabel::{RelabelConfig, RelabelRule};
use crate::ScrapeError;

const DEFAULT_SCRAPE_INTERVAL_MS: i64 = 60_000;
const DEFAULT_SCRAPE_TIMEOUT_MS: i64 = 10_000;
const DEFAULT_FILE_SD_REFRESH_MS: i64 = 5 * 60_000;

/// A duration in Prometheus syntax (`1m30s`, `15s`, `1h`, `0`), millisecond precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub i64);

impl PromDuration {
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub fn as_millis(self) -> i64 {
        self.0
    }
    pub fn as_std(self) -> Duration {
        Duration::from_millis(self.0.max(0) as u64)
    }
    /// Parses Prometheus' duration syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        weft_core::time::parse_prometheus_duration_ms(s).map(Self)
    }
}

impl fmt::Display for PromDuration {
    /// Prometheus' `model.Duration.String()`: `0s`, `1m30s`, `90d` (years/weeks only when exact).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        const UNITS: [(&str, i64, bool); 7] = [
            ("y", 365 * 86_400_000, true),
            ("w", 7 * 86_400_000, true),
            ("d", 86_400_000, false),
            ("h", 3_600_000, false),
            ("m", 60_000, false),
            ("s", 1000, false),
            ("ms", 1, false),
        ];
        for (unit, mult, exact) in UNITS {
            if exact && ms % mult != 0 {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A byte size as Prometheus' `body_size_limit` takes it: a number with an optional unit
/// `B`, `KB`, `MB`, `GB`, `TB`, `PB`, `EB` (powers of 1024, also spelled `KiB` …). 0 = none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid byte size {s:?}"))?;
        let shift = match unit.trim() {
            "" | "B" => 0,
            "KB" | "KiB" => 10,
            "MB" | "MiB" => 20,
            "GB" | "GiB" => 30,
            "TB" | "TiB" => 40,
            "PB" | "PiB" => 50,
            "EB" | "EiB" => 60,
            other => return Err(format!("invalid byte size unit {other:?} in {s:?}")),
        };
        n.checked_mul(1u64 << shift)
            .map(ByteSize)
            .ok_or_else(|| format!("byte size {s:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// The scrape part of a Prometheus config file. Weft embeds the same type as its `scrape:`
/// section. `rule_files` is accepted and ignored here (the rules engine reads it).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfigFile {
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
}

/// `global:`. `evaluation_interval` is accepted for the rules engine and unused here.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_interval: Option<PromDuration>,
    /// Labels for data leaving Weft (remote write, federation, alerts); not added to scraped
    /// series, exactly as in Prometheus.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
}

/// One `scrape_configs` entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honor_timestamps: Option<bool>,
    #[serde(default)]
    pub sample_limit: u64,
    #[serde(default)]
    pub label_limit: u64,
    #[serde(default)]
    pub label_name_length_limit: u64,
    #[serde(default)]
    pub label_value_length_limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size_limit: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Prometheus 2 spelling of `authorization: {credentials: …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// Prometheus 2 spelling of `authorization: {credentials_file: …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Defaults to `Bearer`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Name the server certificate is verified against instead of the target's host. (SNI
    /// still carries the target's host: reqwest derives it from the URL.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `static_configs` entry: a target group written inline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths; `*` is allowed in the last path element only; must end in `.json`, `.yml` or
    /// `.yaml`.
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<PromDuration>,
}

/// Where a secret comes from. Files are read at each scrape so rotation needs no reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    /// The secret's value; a file's content is trimmed of surrounding whitespace.
    pub fn read(&self) -> Result<String, ScrapeError> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| ScrapeError::File(format!("reading {}: {e}", p.display()))),
        }
    }
}

/// Resolved authentication for a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic {
        username: String,
        password: Option<Secret>,
    },
    /// `Authorization: <kind> <credentials>`.
    Header {
        kind: String,
        credentials: Option<Secret>,
    },
}

/// A resolved file SD config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSd {
    pub files: Vec<String>,
    pub refresh_interval: Duration,
}

/// One job with every default applied and every rule compiled.
#[derive(Clone, Debug)]
pub struct JobConfig {
    /// The entry as written, used to tell whether a reload changed the job.
    pub raw: ScrapeConfig,
    pub job_name: String,
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub metrics_path: String,
    pub scheme: String,
    pub honor_timestamps: bool,
    pub body_size_limit: u64,
    pub auth: Auth,
    pub file_sd: Vec<FileSd>,
    pub relabel: Vec<RelabelRule>,
    pub metric_relabel: Vec<RelabelRule>,
}

impl JobConfig {
    /// Whether a reload leaves this job as it was (same entry, same inherited defaults).
    pub fn same_as(&self, other: &JobConfig) -> bool {
        self.raw == other.raw
            && self.scrape_interval == other.scrape_interval
            && self.scrape_timeout == other.scrape_timeout
    }
}

impl ScrapeConfigFile {
    /// Parses and validates a YAML document with `global` and `scrape_configs` (a Prometheus
    /// config file limited to those sections, plus `rule_files`).
    pub fn from_yaml(yaml: &str) -> Result<Self, ScrapeError> {
        let cfg: ScrapeConfigFile =
            serde_yaml::from_str(yaml).map_err(|e| ScrapeError::Yaml(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Validates without keeping the resolved jobs.
    pub fn validate(&self) -> Result<(), ScrapeError> {
        self.jobs().map(|_| ())
    }

    /// Makes relative file paths (secrets, TLS files, file SD patterns) relative to `dir`,
    /// as Prometheus does with the config file's directory.
    pub fn resolve_paths(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        for job in &mut self.scrape_configs {
            if let Some(b) = &mut job.basic_auth {
                b.password_file.as_mut().map(fix);
            }
            if let Some(a) = &mut job.authorization {
                a.credentials_file.as_mut().map(fix);
            }
            job.bearer_token_file.as_mut().map(fix);
            if let Some(t) = &mut job.tls_config {
                t.ca_file.as_mut().map(fix);
                t.cert_file.as_mut().map(fix);
                t.key_file.as_mut().map(fix);
            }
            for sd in &mut job.file_sd_configs {
                for f in &mut sd.files {
                    if Path::new(f.as_str()).is_relative() {
                        *f = dir.join(&*f).to_string_lossy().into_owned();
                    }
                }
            }
        }
    }

    /// Global interval and timeout with defaults applied.
    fn global_interval_timeout(&self) -> Result<(PromDuration, PromDuration), ScrapeError> {
        let interval = nonzero(self.global.scrape_interval)
            .unwrap_or(PromDuration(DEFAULT_SCRAPE_INTERVAL_MS));
        let timeout = match nonzero(self.global.scrape_timeout) {
            Some(t) if t > interval => {
                return Err(ScrapeError::config(
                    "global.scrape_timeout",
                    "global scrape timeout greater than scrape interval",
                ))
            }
            Some(t) => t,
            None => PromDuration(DEFAULT_SCRAPE_TIMEOUT_MS.min(interval.0)),
        };
        Ok((interval, timeout))
    }

    /// Validates everything and resolves each job.
    pub fn jobs(&self) -> Result<Vec<JobConfig>, ScrapeError> {
        let (g_interval, g_timeout) = self.global_interval_timeout()?;
        for name in self.global.external_labels.keys() {
            if !weft_core::labels::is_legacy_label_name(name) {
                return Err(ScrapeError::config(
                    "global.external_labels",
                    format!("{name:?} is not a valid label name"),
                ));
            }
        }
        let mut seen = HashSet::new();
        let mut jobs = Vec::with_capacity(self.scrape_configs.len());
        for (i, sc) in self.scrape_configs.iter().enumerate() {
            if sc.job_name.is_empty() {
                return Err(ScrapeError::config(
                    format!("scrape_configs[{i}].job_name"),
                    "job_name is empty",
                ));
            }
            if !seen.insert(sc.job_name.as_str()) {
                return Err(ScrapeError::config(
                    format!("job {:?}: job_name", sc.job_name),
                    format!(
                        "found multiple scrape configs with job name {:?}",
                        sc.job_name
                    ),
                ));
            }
            jobs.push(resolve_job(sc, g_interval, g_timeout)?);
        }
        Ok(jobs)
    }
}

/// Prometheus treats an explicit zero duration as "unset".
fn nonzero(d: Option<PromDuration>) -> Option<PromDuration> {
    d.filter(|d| d.0 != 0)
}

fn resolve_job(
    sc: &ScrapeConfig,
    g_interval: PromDuration,
    g_timeout: PromDuration,
) -> Result<JobConfig, ScrapeError> {
    let job = sc.job_name.as_str();
    let ctx = |field: &str| format!("job {job:?}: {field}");
    let interval = nonzero(sc.scrape_interval).unwrap_or(g_interval);
    let timeout = match nonzero(sc.scrape_timeout) {
        Some(t) if t > interval => {
            return Err(ScrapeError::config(
                ctx("scrape_timeout"),
                format!(
                    "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
                ),
            ))
        }
        Some(t) => t,
        None => g_timeout.min(interval),
    };
    let scheme = match sc.scheme.as_deref() {
        None | Some("") => "http".to_string(),
        Some(s @ ("http" | "https")) => s.to_string(),
        Some(other) => {
            return Err(ScrapeError::config(
                ctx("scheme"),
                format!("invalid scheme {other:?}, must be http or https"),
            ))
        }
    };
    let metrics_path = match sc.metrics_path.as_deref() {
        None | Some("") => "/metrics".to_string(),
        Some(p) => p.to_string(),
    };
    let auth = resolve_auth(sc).map_err(|m| ScrapeError::config(ctx("authentication"), m))?;
    validate_tls(sc.tls_config.as_ref()).map_err(|m| ScrapeError::config(ctx("tls_config"), m))?;
    validate_static(sc).map_err(|(f, m)| ScrapeError::config(ctx(&f), m))?;
    let file_sd = resolve_file_sd(sc).map_err(|(f, m)| ScrapeError::config(ctx(&f), m))?;
    for name in sc.params.keys() {
        if name.is_empty() {
            return Err(ScrapeError::config(ctx("params"), "empty parameter name"));
        }
    }
    let relabel = RelabelRule::compile_all(&sc.relabel_configs).map_err(|(i, e)| {
        ScrapeError::config(ctx(&format!("relabel_configs[{i}]")), e.to_string())
    })?;
    let metric_relabel =
        RelabelRule::compile_all(&sc.metric_relabel_configs).map_err(|(i, e)| {
            ScrapeError::config(ctx(&format!("metric_relabel_configs[{i}]")), e.to_string())
        })?;
    Ok(JobConfig {
        raw: sc.clone(),
        job_name: sc.job_name.clone(),
        scrape_interval: interval,
        scrape_timeout: timeout,
        metrics_path,
        scheme,
        honor_timestamps: sc.honor_timestamps.unwrap_or(true),
        body_size_limit: sc.body_size_limit.map(|b| b.0).unwrap_or(0),
        auth,
        file_sd,
        relabel,
        metric_relabel,
    })
}

/// The checks of Prometheus' `HTTPClientConfig.Validate` for the options supported here.
fn resolve_auth(sc: &ScrapeConfig) -> Result<Auth, String> {
    if sc.bearer_token.is_some() && sc.bearer_token_file.is_some() {
        return Err("at most one of bearer_token & bearer_token_file must be configured".into());
    }
    let has_bearer = sc.bearer_token.is_some() || sc.bearer_token_file.is_some();
    if sc.basic_auth.is_some() && (has_bearer || sc.authorization.is_some()) {
        return Err(
            "at most one of basic_auth, authorization, bearer_token & bearer_token_file must be configured"
                .into(),
        );
    }
    if let Some(b) = &sc.basic_auth {
        if b.password.is_some() && b.password_file.is_some() {
            return Err(
                "at most one of basic_auth password & password_file must be configured".into(),
            );
        }
        let password = match (&b.password, &b.password_file) {
            (Some(p), _) => Some(Secret::Inline(p.clone())),
            (_, Some(f)) => Some(Secret::File(f.clone())),
            _ => None,
        };
        return Ok(Auth::Basic {
            username: b.username.clone(),
            password,
        });
    }
    if let Some(a) = &sc.authorization {
        if has_bearer {
            return Err(
                "authorization is not compatible with bearer_token & bearer_token_file".into(),
            );
        }
        if a.credentials.is_some() && a.credentials_file.is_some() {
            return Err(
                "at most one of authorization credentials & credentials_file must be configured"
                    .into(),
            );
        }
        let kind = a
            .kind
            .clone()
            .filter(|k| !k.trim().is_empty())
            .unwrap_or_else(|| "Bearer".into());
        if kind.eq_ignore_ascii_case("basic") {
            return Err(
                r#"authorization type cannot be set to "basic", use "basic_auth" instead"#.into(),
            );
        }
        let credentials = match (&a.credentials, &a.credentials_file) {
            (Some(c), _) => Some(Secret::Inline(c.clone())),
            (_, Some(f)) => Some(Secret::File(f.clone())),
            _ => None,
        };
        return Ok(Auth::Header { kind, credentials });
    }
    let credentials = match (&sc.bearer_token, &sc.bearer_token_file) {
        (Some(t), _) => Some(Secret::Inline(t.clone())),
        (_, Some(f)) => Some(Secret::File(f.clone())),
        _ => return Ok(Auth::None),
    };
    Ok(Auth::Header {
        kind: "Bearer".into(),
        credentials,
    })
}

fn validate_tls(tls: Option<&TlsConfig>) -> Result<(), String> {
    let Some(tls) = tls else { return Ok(()) };
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => Err("key_file must be configured when cert_file is".into()),
        (None, Some(_)) => Err("cert_file must be configured when key_file is".into()),
        _ => Ok(()),
    }
}

fn validate_static(sc: &ScrapeConfig) -> Result<(), (String, String)> {
    for (i, g) in sc.static_configs.iter().enumerate() {
        for t in &g.targets {
            check_target_address(t).map_err(|m| (format!("static_configs[{i}].targets"), m))?;
        }
        for name in g.labels.keys() {
            if name.is_empty() {
                return Err((
                    format!("static_configs[{i}].labels"),
                    "empty label name".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Prometheus' `CheckTargetAddress`: an address is `host:port`, never a URL.
pub(crate) fn check_target_address(addr: &str) -> Result<(), String> {
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    Ok(())
}

fn resolve_file_sd(sc: &ScrapeConfig) -> Result<Vec<FileSd>, (String, String)> {
    let pattern = regex::Regex::new(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")
        .map_err(|e| ("file_sd_configs".to_string(), e.to_string()))?;
    let mut out = Vec::new();
    for (i, c) in sc.file_sd_configs.iter().enumerate() {
        for f in &c.files {
            if !pattern.is_match(f) {
                return Err((
                    format!("file_sd_configs[{i}].files"),
                    format!("path name {f:?} is not valid for file discovery"),
                ));
            }
        }
        let refresh =
            nonzero(c.refresh_interval).unwrap_or(PromDuration(DEFAULT_FILE_SD_REFRESH_MS));
        out.push(FileSd {
            files: c.files.clone(),
            refresh_interval: refresh.as_std(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
