//! The HTTP side of a scrape: one `reqwest` client per job (TLS settings), one request per
//! scrape with Prometheus' headers, auth and a size-limited, gzip-decoded body.

use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};

use crate::config::{Auth, JobConfig};
use crate::ScrapeError;

/// Prometheus' default Accept header: OpenMetrics first, then the text format, then anything.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// `Weft/<version>`.
pub fn user_agent() -> String {
    format!("Weft/{}", env!("CARGO_PKG_VERSION"))
}

/// Builds the client for a job: gzip, redirects followed (as Prometheus), TLS from
/// `tls_config` ([`crate::tls`]).
pub fn build_client(job: &JobConfig) -> Result<reqwest::Client, ScrapeError> {
    let ctx = format!("job {:?}: tls_config", job.job_name);
    let mut b = reqwest::Client::builder()
        .gzip(true)
        .user_agent(user_agent())
        .pool_idle_timeout(Duration::from_secs(90));
    if let Some(tls) = &job.raw.tls_config {
        let cfg = crate::tls::client_config(tls).map_err(|m| ScrapeError::config(&ctx, m))?;
        b = b.use_preconfigured_tls(cfg);
    }
    b.build()
        .map_err(|e| ScrapeError::config(&ctx, format!("building HTTP client: {e}")))
}

/// A fetched body and its `Content-Type`.
pub struct Fetched {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

/// Performs one scrape request within `timeout`.
pub async fn fetch(
    client: &reqwest::Client,
    job: &JobConfig,
    url: &str,
    timeout: Duration,
) -> Result<Fetched, ScrapeError> {
    let fut = fetch_inner(client, job, url, timeout);
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(ScrapeError::Timeout(timeout)),
    }
}

async fn fetch_inner(
    client: &reqwest::Client,
    job: &JobConfig,
    url: &str,
    timeout: Duration,
) -> Result<Fetched, ScrapeError> {
    let mut req = client
        .get(url)
        .header(ACCEPT, HeaderValue::from_static(ACCEPT_HEADER))
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            timeout.as_secs_f64().to_string(),
        );
    req = match &job.auth {
        Auth::None => req,
        Auth::Basic { username, password } => {
            let pw = password.as_ref().map(|p| p.read()).transpose()?;
            req.basic_auth(username, pw)
        }
        Auth::Header { kind, credentials } => {
            let cred = credentials.as_ref().map(|c| c.read()).transpose()?;
            let value = format!("{kind} {}", cred.unwrap_or_default());
            let value = HeaderValue::from_str(&value).map_err(|_| {
                ScrapeError::File("credentials contain invalid header characters".into())
            })?;
            req.header(AUTHORIZATION, value)
        }
    };
    let mut resp = req
        .send()
        .await
        .map_err(|e| ScrapeError::Http(error_chain(&e)))?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        return Err(ScrapeError::Http(format!(
            "server returned HTTP status {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limit = if job.body_size_limit == 0 {
        u64::MAX
    } else {
        job.body_size_limit
    };
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ScrapeError::Http(error_chain(&e)))?
    {
        body.extend_from_slice(&chunk);
        // Prometheus fails when the decoded body reaches the limit.
        if body.len() as u64 >= limit {
            return Err(ScrapeError::BodySizeLimit);
        }
    }
    Ok(Fetched { body, content_type })
}

/// reqwest's top-level messages are vague ("error sending request"); add the causes.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
