//! `weft serve`: wiring and ordered shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use weft_api::AppState;
use weft_core::telemetry::{Sample, SampleKind, SelfMetrics, SnapshotSource};
use weft_core::tenant::TenantPolicy;
use weft_core::time::AcceptWindow;
use weft_ingest::otlp_grpc::{self, GrpcReceiver};
use weft_ingest::otlp_http::{self, HttpReceiver};
use weft_ingest::remote_write;
use weft_ingest::{open_metric_wal_and_replay, open_wal_and_replay, MetricPipeline, Pipeline};
use weft_metrics::store::MetricStore;
use weft_traces::TraceStore;
use weft_wal::Wal;

use crate::config::Config;
use crate::scraping::{self, ScrapeSnapshot, ScrapeWriter};
use weft_scrape::{ManagerOptions, ScrapeManager};
use weft_servicegraph::Generators;

/// Runs the server until SIGTERM/SIGINT, then shuts down in order.
pub fn run(cfg: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weft")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(cfg))
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let metrics = SelfMetrics::new();
    let tenants = TenantPolicy {
        allowed: cfg.tenancy.allowed.clone(),
    };
    let max_message_bytes = cfg.receivers.max_message_bytes.as_u64() as usize;

    // Bind every port before the (possibly long) replay so a port conflict fails fast.
    let grpc_listener = bind(cfg.receivers.otlp_grpc_addr, "OTLP/gRPC").await?;
    let otlp_http_listener = bind(cfg.receivers.otlp_http_addr, "OTLP/HTTP").await?;
    let api_listener = bind(cfg.server.http_addr, "query API").await?;

    let traces = TraceStore::open(
        &data_dir.join("traces"),
        cfg.traces.clone(),
        metrics.clone(),
    )
    .context("opening the trace store")?;
    let (wal, replayed) = {
        let traces = traces.clone();
        let wal_dir = data_dir.join("wal");
        let options = cfg.wal.to_options(max_message_bytes as u64);
        tokio::task::spawn_blocking(move || open_wal_and_replay(&wal_dir, options, &traces))
            .await
            .context("WAL replay task")?
            .context("opening the WAL")?
    };
    tracing::info!(records = replayed, "WAL replayed");
    let wal = Arc::new(wal);
    metrics.register_source(Arc::new(WalSnapshot(wal.clone(), "traces")));

    let metric_store = MetricStore::open(&data_dir.join("metrics"), cfg.metrics.clone())
        .context("opening the metric store")?;
    metrics.register_source(metric_store.snapshot_source());
    let (metric_wal, replayed) = {
        let store = metric_store.clone();
        let wal_dir = data_dir.join("wal-metrics");
        let options = cfg.wal.to_options(max_message_bytes as u64);
        tokio::task::spawn_blocking(move || open_metric_wal_and_replay(&wal_dir, options, &store))
            .await
            .context("metric WAL replay task")?
            .context("opening the metric WAL")?
    };
    tracing::info!(records = replayed, "metric WAL replayed");
    let metric_wal = Arc::new(metric_wal);
    metrics.register_source(Arc::new(WalSnapshot(metric_wal.clone(), "metrics")));
    let metric_pipeline = MetricPipeline::new(metric_wal, metric_store.clone(), metrics.clone());

    let window = AcceptWindow {
        max_past_nanos: cfg.receivers.max_past.as_nanos() as u64,
        max_future_nanos: cfg.receivers.max_future.as_nanos() as u64,
    };
    let pipeline = Pipeline::new(wal, traces.clone(), metrics.clone(), window);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let maintenance = tokio::spawn(
        pipeline
            .clone()
            .run_maintenance(cfg.traces.maintenance_interval, shutdown_rx.clone()),
    );
    let metric_maintenance = tokio::spawn(
        metric_pipeline
            .clone()
            .run_maintenance(cfg.metrics.maintenance_interval, shutdown_rx.clone()),
    );

    let scrape = start_scraping(&cfg, &metric_pipeline, &metrics, shutdown_rx.clone())?;
    let graph = start_service_graph(&cfg, &pipeline, &metric_pipeline, shutdown_rx.clone())?;
    let ready = Arc::new(AtomicBool::new(false));
    let api_state = Arc::new(AppState {
        traces,
        metric_store,
        targets: scrape
            .clone()
            .map(|m| -> weft_api::TargetsFn { Arc::new(move || scraping::targets_json(&m)) }),
        tenants: tenants.clone(),
        metrics: metrics.clone(),
        flush: flush_fn(pipeline.clone(), metric_pipeline.clone()),
        ready: ready.clone(),
    });
    let translate = cfg.receivers.otlp_metrics.to_options();
    let grpc = GrpcReceiver {
        pipeline: pipeline.clone(),
        metrics: metric_pipeline.clone(),
        translate: translate.clone(),
        tenants: tenants.clone(),
        max_message_bytes,
    };
    let otlp_http = Arc::new(HttpReceiver {
        pipeline: pipeline.clone(),
        metrics: metric_pipeline.clone(),
        translate,
        tenants,
        max_message_bytes,
    });
    // Remote write is served on the OTLP/HTTP port and, as Prometheus does, beside the
    // query API (senders are usually pointed at the "Prometheus" URL).
    let remote_write = remote_write::endpoint::router(otlp_http.clone());

    let servers = vec![
        tokio::spawn(serve_grpc(grpc_listener, grpc, shutdown_rx.clone())),
        tokio::spawn(serve_http(
            otlp_http_listener,
            otlp_http::router(otlp_http.clone())
                .merge(remote_write.clone())
                .layer(axum::middleware::from_fn_with_state(
                    metrics.clone(),
                    weft_api::observe::observe_latency,
                )),
            shutdown_rx.clone(),
            "OTLP/HTTP",
        )),
        tokio::spawn(serve_http(
            api_listener,
            weft_api::router(api_state).merge(remote_write),
            shutdown_rx.clone(),
            "query API",
        )),
    ];
    ready.store(true, Ordering::Release);
    tracing::info!(
        grpc = %cfg.receivers.otlp_grpc_addr,
        http = %cfg.receivers.otlp_http_addr,
        api = %cfg.server.http_addr,
        data_dir = %data_dir.display(),
        "weft is ready"
    );

    wait_for_signal().await;
    tracing::info!("shutting down: no longer accepting requests");
    ready.store(false, Ordering::Release);
    let _ = shutdown_tx.send(true);
    drain(servers, cfg.server.shutdown_grace).await;
    let _ = maintenance.await;
    let _ = metric_maintenance.await;
    if let Some(graph) = graph {
        let _ = graph.await;
    }
    if let Some(scrape) = &scrape {
        scrape.stopped().await;
    }
    let traces_closed = pipeline
        .shutdown()
        .await
        .context("flushing the trace store and closing the WAL");
    let metrics_closed = metric_pipeline
        .shutdown()
        .await
        .context("closing the metric WAL");
    traces_closed?;
    metrics_closed?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// Feeds trace batches to the service-graph generators and writes what they derive into the
/// metric store every `collection_interval` (and once more at shutdown).
fn start_service_graph(
    cfg: &Config,
    traces: &Arc<Pipeline>,
    metrics: &Arc<MetricPipeline>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if !cfg.service_graph.enabled {
        return Ok(None);
    }
    let generators = Generators::new(cfg.service_graph.clone())
        .context("configuring the service graph generator")?;
    let generators = Arc::new(parking_lot::Mutex::new(generators));
    traces.set_service_graph(generators.clone());
    let metrics = metrics.clone();
    let interval = cfg
        .service_graph
        .collection_interval
        .max(Duration::from_millis(100));
    Ok(Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            let stop = tokio::select! {
                _ = tick.tick() => false,
                _ = shutdown.changed() => true,
            };
            let now_ms = (weft_core::time::now_unix_nanos() / 1_000_000) as i64;
            let writes = generators.lock().collect(now_ms);
            for (tenant, write) in writes {
                if let Err(err) = metrics.write(&tenant, &write, "service_graph").await {
                    tracing::warn!(%err, %tenant, "could not store service-graph metrics");
                }
            }
            if stop {
                return;
            }
        }
    })))
}

/// Starts the scrape manager when `scrape_configs` are configured.
fn start_scraping(
    cfg: &Config,
    pipeline: &Arc<MetricPipeline>,
    metrics: &Arc<SelfMetrics>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<ScrapeManager<ScrapeWriter>>> {
    if cfg.scrape.scrape_configs.is_empty() {
        return Ok(None);
    }
    let manager = ScrapeManager::start(
        &cfg.scrape,
        Arc::new(ScrapeWriter(pipeline.clone())),
        shutdown,
        ManagerOptions::default(),
    )
    .context("starting the scrape manager")?;
    metrics.register_source(Arc::new(ScrapeSnapshot(manager.clone())));
    tracing::info!(jobs = cfg.scrape.scrape_configs.len(), "scraping started");
    Ok(Some(manager))
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener on {addr}"))
}

fn flush_fn(pipeline: Arc<Pipeline>, metrics: Arc<MetricPipeline>) -> weft_api::FlushFn {
    Arc::new(move || {
        let pipeline = pipeline.clone();
        let metrics = metrics.clone();
        Box::pin(async move {
            let traces = pipeline.cut().await;
            let metrics = metrics.cut().await;
            traces.and(metrics).map_err(|e| e.to_string())
        })
    })
}

async fn serve_grpc(
    listener: TcpListener,
    receiver: GrpcReceiver,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let routes = otlp_grpc::routes(Arc::new(receiver));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
        .context("OTLP/gRPC server")
}

async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    what: &'static str,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
        .with_context(|| format!("{what} server"))
}

/// Waits for the servers to finish their in-flight requests, at most `grace`.
async fn drain(servers: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>, grace: Duration) {
    let all = futures_join_all(servers);
    match tokio::time::timeout(grace, all).await {
        Ok(results) => {
            for result in results {
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::warn!("{err:#}"),
                    Err(err) => tracing::warn!(%err, "server task failed"),
                }
            }
        }
        Err(_) => tracing::warn!(
            ?grace,
            "in-flight requests did not finish within the grace period"
        ),
    }
}

async fn futures_join_all<T>(
    handles: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await);
    }
    out
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for SIGTERM; only SIGINT stops weft");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Reports WAL counters on `/metrics`, labelled with the WAL's signal.
struct WalSnapshot(Arc<Wal>, &'static str);

impl SnapshotSource for WalSnapshot {
    fn samples(&self) -> Vec<Sample> {
        let s = self.0.stats();
        let sample = |name, help, kind, value: f64| Sample {
            name,
            help,
            kind,
            labels: vec![("wal".to_string(), self.1.to_string())],
            value,
        };
        use SampleKind::{Counter, Gauge};
        vec![
            sample(
                "wal_written_bytes",
                "Bytes written to the WAL",
                Counter,
                s.bytes_written as f64,
            ),
            sample(
                "wal_records",
                "Records written to the WAL",
                Counter,
                s.records_written as f64,
            ),
            sample(
                "wal_fsyncs",
                "fdatasync calls made by the WAL",
                Counter,
                s.fsyncs as f64,
            ),
            sample(
                "wal_fsync_seconds",
                "Time spent in WAL fdatasync",
                Counter,
                s.fsync_time.as_secs_f64(),
            ),
            sample(
                "wal_disk_bytes",
                "Bytes of WAL segments on disk",
                Gauge,
                s.disk_bytes as f64,
            ),
            sample(
                "wal_segments",
                "WAL segments on disk",
                Gauge,
                s.segments as f64,
            ),
            sample(
                "wal_pending_bytes",
                "Bytes queued for the WAL writer",
                Gauge,
                s.pending_bytes as f64,
            ),
            sample(
                "wal_backpressure_rejections",
                "Appends refused because the WAL queue was full",
                Counter,
                s.backpressure_rejections as f64,
            ),
            sample(
                "wal_torn_tails_repaired",
                "Torn WAL tails truncated at start-up",
                Counter,
                s.torn_tails_repaired as f64,
            ),
            sample(
                "wal_io_errors",
                "WAL write or sync failures",
                Counter,
                s.io_errors as f64,
            ),
        ]
    }
}
