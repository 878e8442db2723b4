//! Test helpers: a recording sink and a controllable metrics server.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use parking_lot::Mutex;
use tokio::sync::Notify;
use weft_scrape::{is_stale_nan, MetricMetadata, ScrapeSink, ScrapedSample, SinkError};

/// One `append` call.
#[derive(Clone, Debug)]
pub struct Batch {
    pub tenant: String,
    pub samples: Vec<ScrapedSample>,
    pub metadata: Vec<MetricMetadata>,
}

impl Batch {
    /// Value and time of the sample whose labels include all of `want`.
    pub fn get(&self, want: &[(&str, &str)]) -> Option<(i64, f64)> {
        self.samples
            .iter()
            .find(|s| want.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| (s.t_ms, s.value))
    }

    pub fn is_stale(&self, want: &[(&str, &str)]) -> bool {
        self.get(want).is_some_and(|(_, v)| is_stale_nan(v))
    }

    /// `up` of the given instance in this batch.
    pub fn up(&self, instance: &str) -> Option<f64> {
        self.get(&[("__name__", "up"), ("instance", instance)])
            .map(|(_, v)| v)
    }
}

#[derive(Default)]
pub struct RecordingSink {
    pub batches: Mutex<Vec<Batch>>,
    notify: Notify,
}

impl ScrapeSink for RecordingSink {
    async fn append(
        &self,
        tenant: &str,
        samples: Vec<ScrapedSample>,
        metadata: Vec<MetricMetadata>,
    ) -> Result<(), SinkError> {
        self.batches.lock().push(Batch {
            tenant: tenant.to_string(),
            samples,
            metadata,
        });
        self.notify.notify_waiters();
        Ok(())
    }
}

impl RecordingSink {
    /// Waits (at most 5 s) until a batch appended after batch index `from` satisfies `f`;
    /// returns its index.
    pub async fn wait_batch(&self, from: usize, what: &str, f: impl Fn(&Batch) -> bool) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(i) = self.batches.lock().iter().skip(from).position(&f) {
                return from + i;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {what}; batches: {:#?}",
                    self.batches.lock().len()
                );
            }
        }
    }

    pub fn len(&self) -> usize {
        self.batches.lock().len()
    }

    pub fn batch(&self, i: usize) -> Batch {
        self.batches.lock()[i].clone()
    }
}

/// What the server answers on one path.
#[derive(Clone)]
pub struct Page {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub gzip: bool,
    /// Required `Authorization` header value.
    pub auth: Option<String>,
}

impl Page {
    pub fn text(body: &str) -> Self {
        Page {
            status: 200,
            body: body.as_bytes().to_vec(),
            content_type: "text/plain; version=0.0.4",
            gzip: false,
            auth: None,
        }
    }

    pub fn openmetrics(body: &str) -> Self {
        Page {
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ..Page::text(body)
        }
    }
}

#[derive(Default)]
pub struct ServerState {
    pub pages: HashMap<String, Page>,
    /// Headers of every request, by path.
    pub requests: Vec<(String, HeaderMap)>,
}

#[derive(Clone)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ServerState>>,
}

impl TestServer {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ServerState::default()));
        let app = axum::Router::new()
            .fallback(handler)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { addr, state }
    }

    pub fn set(&self, path: &str, page: Page) {
        self.state.lock().pages.insert(path.to_string(), page);
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

async fn handler(
    State(state): State<Arc<Mutex<ServerState>>>,
    req: Request<Body>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let mut st = state.lock();
    st.requests.push((path.clone(), req.headers().clone()));
    let Some(page) = st.pages.get(&path).cloned() else {
        return status(StatusCode::NOT_FOUND);
    };
    if let Some(want) = &page.auth {
        let got = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            return status(StatusCode::UNAUTHORIZED);
        }
    }
    let code = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
    let mut b = Response::builder()
        .status(code)
        .header("content-type", page.content_type);
    let body = if page.gzip {
        b = b.header("content-encoding", "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&page.body).unwrap();
        enc.finish().unwrap()
    } else {
        page.body
    };
    b.body(Body::from(body)).unwrap()
}

fn status(code: StatusCode) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Body::empty())
        .unwrap()
}
