//! The crate's one error type.

/// Everything that can go wrong in the scrape subsystem, from loading a config to scraping a
/// target. Scrape failures are reported on the target (`up` = 0, `lastError`), never returned
/// to the manager's caller; config errors are.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The YAML could not be read into the config types (syntax, types, unknown keys).
    #[error("invalid scrape config: {0}")]
    Yaml(String),
    /// A config value is invalid; `context` names the job and field.
    #[error("invalid scrape config: {context}: {message}")]
    Config { context: String, message: String },
    /// A relabel rule is invalid.
    #[error("invalid relabel config: {0}")]
    Relabel(String),
    /// The HTTP request failed (connect, TLS, status, read).
    #[error("{0}")]
    Http(String),
    /// The scrape did not finish within `scrape_timeout`.
    #[error("scrape timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The (decompressed) body reached `body_size_limit`.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// The body could not be parsed.
    #[error("parse error: {0}")]
    Parse(String),
    /// More samples than `sample_limit` survived metric relabeling.
    #[error("sample limit exceeded")]
    SampleLimit,
    /// A sample exceeded `label_limit`, `label_name_length_limit` or `label_value_length_limit`.
    #[error("{0}")]
    LabelLimit(String),
    /// A scraped sample is unusable after relabeling (e.g. no metric name).
    #[error("{0}")]
    InvalidSample(String),
    /// Reading a secret or TLS file failed.
    #[error("{0}")]
    File(String),
}

impl ScrapeError {
    /// Shorthand for a [`ScrapeError::Config`].
    pub fn config(context: impl Into<String>, message: impl Into<String>) -> Self {
        ScrapeError::Config {
            context: context.into(),
            message: message.into(),
        }
    }

    /// A short, stable name for the self-metrics' `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Yaml(_) | ScrapeError::Config { .. } | ScrapeError::Relabel(_) => "config",
            ScrapeError::Http(_) => "http",
            ScrapeError::Timeout(_) => "timeout",
            ScrapeError::BodySizeLimit => "body_size_limit",
            ScrapeError::Parse(_) => "parse",
            ScrapeError::SampleLimit => "sample_limit",
            ScrapeError::LabelLimit(_) => "label_limit",
            ScrapeError::InvalidSample(_) => "invalid_sample",
            ScrapeError::File(_) => "file",
        }
    }
}
