//! End-to-end: a real HTTP server, the manager, and a recording sink.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Page, RecordingSink, TestServer};
use tokio::sync::watch;
use weft_scrape::{ManagerOptions, ScrapeConfigFile, ScrapeManager, STALE_NAN_BITS};

fn opts() -> ManagerOptions {
    ManagerOptions {
        file_sd_poll: Duration::from_millis(50),
        ..ManagerOptions::default()
    }
}

fn start(
    yaml: &str,
) -> (
    ScrapeManager<RecordingSink>,
    Arc<RecordingSink>,
    watch::Sender<bool>,
) {
    let cfg = ScrapeConfigFile::from_yaml(yaml).unwrap();
    let sink = Arc::new(RecordingSink::default());
    let (tx, rx) = watch::channel(false);
    let mgr = ScrapeManager::start(&cfg, sink.clone(), rx, opts()).unwrap();
    (mgr, sink, tx)
}

async fn shutdown(mgr: &ScrapeManager<RecordingSink>, tx: watch::Sender<bool>) {
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), mgr.stopped())
        .await
        .expect("loops stop on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_go_stale_when_they_vanish_and_when_the_target_fails() {
    let srv = TestServer::start().await;
    srv.set(
        "/metrics",
        Page::text("# TYPE a gauge\na 1\nb{x=\"1\"} 2\n"),
    );
    let h = srv.host();
    let (mgr, sink, tx) = start(&format!(
        "scrape_configs:\n  - job_name: app\n    scrape_interval: 200ms\n    static_configs: [{{targets: ['{h}']}}]\n"
    ));

    let first = sink
        .wait_batch(0, "first scrape", |b| b.up(&h) == Some(1.0))
        .await;
    let b = sink.batch(first);
    assert_eq!(b.tenant, "single-tenant");
    let (t, v) = b
        .get(&[("__name__", "a"), ("job", "app"), ("instance", &h)])
        .unwrap();
    assert_eq!(v, 1.0);
    assert_eq!(
        b.get(&[("__name__", "up")]).unwrap().0,
        t,
        "report at the scrape's timestamp"
    );
    assert_eq!(
        b.get(&[("__name__", "scrape_samples_scraped")]).unwrap().1,
        2.0
    );
    assert_eq!(
        b.get(&[("__name__", "scrape_samples_post_metric_relabeling")])
            .unwrap()
            .1,
        2.0
    );
    assert_eq!(
        b.get(&[("__name__", "scrape_series_added")]).unwrap().1,
        2.0
    );
    assert!(b.get(&[("__name__", "scrape_duration_seconds")]).unwrap().1 > 0.0);
    assert!(b
        .metadata
        .iter()
        .any(|m| m.metric == "a" && m.kind == "gauge"));
    assert!(b.metadata.iter().any(|m| m.metric == "up"));
    {
        let st = srv.state.lock();
        let (_, headers) = &st.requests[0];
        assert_eq!(headers["accept"], weft_scrape::client::ACCEPT_HEADER);
        assert!(headers["user-agent"].to_str().unwrap().starts_with("Weft/"));
        assert_eq!(headers["x-prometheus-scrape-timeout-seconds"], "0.2");
        assert!(headers["accept-encoding"]
            .to_str()
            .unwrap()
            .contains("gzip"));
    }

    // `b` disappears: a stale marker at the next scrape's timestamp.
    srv.set("/metrics", Page::text("a 3\n"));
    let i = sink
        .wait_batch(first + 1, "stale marker for b", |b| {
            b.is_stale(&[("__name__", "b")])
        })
        .await;
    let b = sink.batch(i);
    let (t_stale, v) = b.get(&[("__name__", "b"), ("x", "1")]).unwrap();
    assert_eq!(v.to_bits(), STALE_NAN_BITS);
    assert_eq!(b.get(&[("__name__", "a")]).unwrap(), (t_stale, 3.0));
    assert_eq!(
        b.get(&[("__name__", "scrape_series_added")]).unwrap().1,
        0.0
    );

    // The target fails: up=0 and stale markers for everything it had.
    let mut page = Page::text("");
    page.status = 500;
    srv.set("/metrics", page);
    let i = sink
        .wait_batch(i + 1, "failed scrape", |b| b.up(&h) == Some(0.0))
        .await;
    let b = sink.batch(i);
    assert!(b.is_stale(&[("__name__", "a")]), "{b:?}");
    assert_eq!(
        b.samples.len(),
        6,
        "one stale marker plus five report series"
    );
    let targets = mgr.targets();
    let t = &targets.active_targets[0];
    assert_eq!(t.health, "down");
    assert!(t.last_error.contains("500"), "{}", t.last_error);
    assert_eq!(t.scrape_pool, "app");
    assert_eq!(t.scrape_url, format!("http://{h}/metrics"));
    assert_eq!(t.labels["instance"], h);
    assert_eq!(t.discovered_labels["__address__"], h);
    assert_eq!(t.scrape_interval, "200ms");

    // A second failure has nothing left to mark stale.
    let j = sink
        .wait_batch(i + 1, "second failure", |b| b.up(&h) == Some(0.0))
        .await;
    assert_eq!(sink.batch(j).samples.len(), 5);
    let m = mgr.metrics();
    assert!(m.scrape_failures_total.get("http").copied().unwrap_or(0) >= 2);
    assert!(m.stale_markers_total >= 2);
    assert_eq!(m.active_targets, 1);
    assert!(m
        .render()
        .contains("weft_scrape_failures_total{reason=\"http\"}"));

    shutdown(&mgr, tx).await;
    let n = sink.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sink.len(),
        n,
        "nothing is written after shutdown (no stale markers)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_both_ways_with_openmetrics_and_gzip() {
    let srv = TestServer::start().await;
    let mut page = Page::openmetrics(
        "# TYPE m gauge\n# HELP m A gauge.\nm{job=\"inner\",instance=\"\"} 1\nn 2 123.456\n# EOF\n",
    );
    page.gzip = true;
    srv.set("/metrics", page);
    let h = srv.host();
    let (mgr, sink, tx) = start(&format!(
        "scrape_configs:\n\
         - {{job_name: plain, scrape_interval: 200ms, static_configs: [{{targets: ['{h}']}}]}}\n\
         - {{job_name: honor, honor_labels: true, scrape_interval: 200ms, static_configs: [{{targets: ['{h}']}}]}}\n"
    ));
    let plain = |b: &common::Batch| b.get(&[("__name__", "up"), ("job", "plain")]).is_some();
    let honor = |b: &common::Batch| b.get(&[("__name__", "up"), ("job", "honor")]).is_some();
    let b = sink.batch(sink.wait_batch(0, "plain job", plain).await);
    assert_eq!(b.up(&h), Some(1.0), "{b:?}");
    let (_, v) = b
        .get(&[
            ("__name__", "m"),
            ("job", "plain"),
            ("exported_job", "inner"),
        ])
        .unwrap();
    assert_eq!(v, 1.0);
    assert_eq!(
        b.get(&[("__name__", "n"), ("job", "plain")]).unwrap().0,
        123_456
    );
    assert!(b
        .metadata
        .iter()
        .any(|m| m.metric == "m" && m.help == "A gauge."));

    let b = sink.batch(sink.wait_batch(0, "honor job", honor).await);
    let m = b
        .samples
        .iter()
        .find(|s| s.labels.metric_name() == Some("m"))
        .unwrap();
    assert_eq!(m.labels.get("job"), Some("inner"), "scraped value wins");
    assert_eq!(
        m.labels.get("instance"),
        Some(h.as_str()),
        "empty scraped label is absent"
    );
    assert_eq!(m.labels.get("exported_job"), None);
    shutdown(&mgr, tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_bearer_tokens_reach_the_server() {
    let srv = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "file-token\n").unwrap();
    let mut basic = Page::text("ok 1\n");
    basic.auth = Some("Basic dTpw".into()); // base64("u:p")
    srv.set("/basic", basic);
    let mut bearer = Page::text("ok 1\n");
    bearer.auth = Some("Bearer file-token".into());
    srv.set("/bearer", bearer);
    let mut custom = Page::text("ok 1\n");
    custom.auth = Some("Token s3cret".into());
    srv.set("/custom", custom);
    let h = srv.host();
    let tok = dir.path().join("token").display().to_string();
    let (mgr, sink, tx) = start(&format!(
        "scrape_configs:\n\
         - {{job_name: basic, metrics_path: /basic, scrape_interval: 200ms, basic_auth: {{username: u, password: p}}, static_configs: [{{targets: ['{h}']}}]}}\n\
         - {{job_name: bearer, metrics_path: /bearer, scrape_interval: 200ms, bearer_token_file: '{tok}', static_configs: [{{targets: ['{h}']}}]}}\n\
         - {{job_name: custom, metrics_path: /custom, scrape_interval: 200ms, authorization: {{type: Token, credentials: s3cret}}, static_configs: [{{targets: ['{h}']}}]}}\n\
         - {{job_name: wrong, metrics_path: /basic, scrape_interval: 200ms, basic_auth: {{username: u, password: x}}, static_configs: [{{targets: ['{h}']}}]}}\n"
    ));
    for job in ["basic", "bearer", "custom"] {
        let i = sink
            .wait_batch(0, job, |b| {
                b.get(&[("__name__", "up"), ("job", job)]).is_some()
            })
            .await;
        assert_eq!(
            sink.batch(i)
                .get(&[("__name__", "up"), ("job", job)])
                .unwrap()
                .1,
            1.0,
            "job {job}"
        );
    }
    let i = sink
        .wait_batch(0, "wrong", |b| {
            b.get(&[("__name__", "up"), ("job", "wrong")]).is_some()
        })
        .await;
    assert_eq!(
        sink.batch(i)
            .get(&[("__name__", "up"), ("job", "wrong")])
            .unwrap()
            .1,
        0.0
    );
    let t = mgr.targets();
    let wrong = t
        .active_targets
        .iter()
        .find(|t| t.scrape_pool == "wrong")
        .unwrap();
    assert!(wrong.last_error.contains("401"), "{}", wrong.last_error);
    shutdown(&mgr, tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_relabeling_and_limits() {
    let srv = TestServer::start().await;
    srv.set("/metrics", Page::text("keep_me 1\ndrop_me 2\ndrop_too 3\n"));
    let h = srv.host();
    let yaml = [
        "scrape_configs:".to_string(),
        "  - job_name: relabel".into(),
        "    scrape_interval: 200ms".into(),
        format!("    static_configs: [{{targets: ['{h}']}}]"),
        "    metric_relabel_configs: [{source_labels: [__name__], regex: 'drop_.*', action: drop}]"
            .into(),
        "  - job_name: limited".into(),
        "    scrape_interval: 200ms".into(),
        "    sample_limit: 2".into(),
        format!("    static_configs: [{{targets: ['{h}']}}]"),
        "  - job_name: small".into(),
        "    scrape_interval: 200ms".into(),
        "    body_size_limit: 10B".into(),
        format!("    static_configs: [{{targets: ['{h}']}}]"),
    ]
    .join("\n");
    let (mgr, sink, tx) = start(&yaml);
    let job_up = |job: &'static str| {
        move |b: &common::Batch| b.get(&[("__name__", "up"), ("job", job)]).is_some()
    };

    let b = sink.batch(sink.wait_batch(0, "relabel", job_up("relabel")).await);
    assert!(b
        .get(&[("__name__", "keep_me"), ("job", "relabel")])
        .is_some());
    assert!(b.get(&[("__name__", "drop_me")]).is_none());
    assert_eq!(
        b.get(&[("__name__", "scrape_samples_scraped")]).unwrap().1,
        3.0
    );
    assert_eq!(
        b.get(&[("__name__", "scrape_samples_post_metric_relabeling")])
            .unwrap()
            .1,
        1.0
    );
    assert_eq!(b.up(&h), Some(1.0));

    let b = sink.batch(sink.wait_batch(0, "limited", job_up("limited")).await);
    assert_eq!(b.up(&h), Some(0.0), "sample_limit fails the scrape");
    assert_eq!(b.samples.len(), 5, "no samples, only the report: {b:?}");
    assert_eq!(
        b.get(&[("__name__", "scrape_samples_scraped")]).unwrap().1,
        3.0
    );

    let b = sink.batch(sink.wait_batch(0, "small", job_up("small")).await);
    assert_eq!(b.up(&h), Some(0.0));
    let t = mgr.targets();
    let find = |pool: &str| {
        t.active_targets
            .iter()
            .find(|t| t.scrape_pool == pool)
            .unwrap()
            .clone()
    };
    assert_eq!(find("limited").last_error, "sample limit exceeded");
    assert_eq!(find("small").last_error, "body size limit exceeded");
    assert_eq!(find("relabel").health, "up");
    let m = mgr.metrics();
    assert!(m.scrape_failures_total["sample_limit"] >= 1);
    assert!(m.scrape_failures_total["body_size_limit"] >= 1);
    shutdown(&mgr, tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_changes_move_scraping_and_mark_the_old_target_stale() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    a.set("/metrics", Page::text("from_a 1\n"));
    b.set("/metrics", Page::text("from_b 1\n"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    std::fs::write(
        &file,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"team": "x"}}}}]"#,
            a.host()
        ),
    )
    .unwrap();
    let json = dir.path().join("*.json").display().to_string();
    let yml = dir.path().join("*.yml").display().to_string();
    let (mgr, sink, tx) = start(&format!(
        "scrape_configs:\n  - job_name: sd\n    scrape_interval: 200ms\n    file_sd_configs: [{{files: ['{json}', '{yml}']}}]\n    relabel_configs: [{{source_labels: [__meta_filepath], regex: '.*/(.*)', target_label: file}}]\n"
    ));
    let ah = a.host();
    let i = sink
        .wait_batch(0, "scrape of a", |bt| bt.up(&ah) == Some(1.0))
        .await;
    let bt = sink.batch(i);
    let s = bt.get(&[
        ("__name__", "from_a"),
        ("team", "x"),
        ("file", "targets.json"),
    ]);
    assert!(s.is_some(), "{bt:?}");
    assert!(mgr.targets().active_targets[0]
        .discovered_labels
        .contains_key("__meta_filepath"));

    // Rewrite the file (via rename, as config management tools do).
    let tmp = dir.path().join("tmp");
    std::fs::write(&tmp, format!("- targets: ['{}']\n", b.host())).unwrap();
    std::fs::rename(&tmp, dir.path().join("targets.yml")).unwrap();
    std::fs::remove_file(&file).unwrap();
    let bh = b.host();
    sink.wait_batch(i, "scrape of b", |bt| bt.up(&bh) == Some(1.0))
        .await;
    // About two intervals later, a's series and report series go stale.
    let j = sink
        .wait_batch(i, "end-of-run stale markers", |bt| {
            bt.is_stale(&[("__name__", "from_a")])
        })
        .await;
    let bt = sink.batch(j);
    assert!(
        bt.is_stale(&[("__name__", "up"), ("instance", &ah)]),
        "{bt:?}"
    );
    assert!(bt.is_stale(&[("__name__", "scrape_duration_seconds"), ("instance", &ah)]));
    let t = mgr.targets();
    assert_eq!(t.active_targets.len(), 1);
    assert_eq!(t.active_targets[0].labels["instance"], bh);
    shutdown(&mgr, tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_unchanged_jobs_and_stops_removed_ones() {
    let srv = TestServer::start().await;
    srv.set("/metrics", Page::text("x 1\n"));
    let h = srv.host();
    let keep = format!(
        "  - {{job_name: keep, scrape_interval: 200ms, static_configs: [{{targets: ['{h}']}}]}}\n"
    );
    let gone = format!(
        "  - {{job_name: gone, scrape_interval: 200ms, static_configs: [{{targets: ['{h}']}}], relabel_configs: [{{target_label: __address__, replacement: 'localhost:1'}}]}}\n"
    );
    let (mgr, sink, tx) = start(&format!("scrape_configs:\n{keep}{gone}"));
    let job_up = |job: &'static str| {
        move |b: &common::Batch| b.get(&[("__name__", "up"), ("job", job)]).is_some()
    };
    sink.wait_batch(0, "keep", job_up("keep")).await;
    sink.wait_batch(0, "gone (refused connection)", job_up("gone"))
        .await;

    // A bad config changes nothing.
    let bad = ScrapeConfigFile {
        scrape_configs: vec![Default::default()],
        ..Default::default()
    };
    assert!(mgr.apply_config(&bad).is_err());
    assert_eq!(mgr.targets().active_targets.len(), 2);

    let n = sink.len();
    mgr.apply_config(&ScrapeConfigFile::from_yaml(&format!("scrape_configs:\n{keep}")).unwrap())
        .unwrap();
    let targets = mgr.targets();
    assert_eq!(targets.active_targets.len(), 1);
    assert_eq!(targets.active_targets[0].scrape_pool, "keep");
    assert_ne!(
        targets.active_targets[0].health, "unknown",
        "the kept loop was not restarted"
    );
    let i = sink
        .wait_batch(n, "stale up of removed job", |b| {
            b.is_stale(&[("__name__", "up"), ("job", "gone")])
        })
        .await;
    assert!(sink
        .batch(i)
        .samples
        .iter()
        .all(|s| s.labels.get("job") == Some("gone")));
    assert!(
        !sink
            .batches
            .lock()
            .iter()
            .any(|b| b.is_stale(&[("__name__", "x"), ("job", "keep")])),
        "the unchanged job saw no staleness"
    );
    shutdown(&mgr, tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_job_keeps_its_loops_and_applies_new_settings() {
    let srv = TestServer::start().await;
    srv.set("/metrics", Page::text("a 1\nb 1\n"));
    let h = srv.host();
    let base = format!(
        "scrape_configs:\n  - job_name: j\n    scrape_interval: 200ms\n    static_configs: [{{targets: ['{h}']}}]\n"
    );
    let (mgr, sink, tx) = start(&base);
    let first = sink
        .wait_batch(0, "first scrape", |b| b.up(&h) == Some(1.0))
        .await;
    assert!(sink.batch(first).get(&[("__name__", "b")]).is_some());

    let changed = format!(
        "{base}    metric_relabel_configs: [{{source_labels: [__name__], regex: b, action: drop}}]\n"
    );
    mgr.apply_config(&ScrapeConfigFile::from_yaml(&changed).unwrap())
        .unwrap();
    assert_ne!(
        mgr.targets().active_targets[0].health,
        "unknown",
        "same target, same loop"
    );
    let i = sink
        .wait_batch(first + 1, "b relabeled away", |b| {
            b.is_stale(&[("__name__", "b")])
        })
        .await;
    let b = sink.batch(i);
    assert_eq!(b.get(&[("__name__", "a")]).map(|s| s.1), Some(1.0));
    assert_eq!(
        b.get(&[("__name__", "scrape_samples_post_metric_relabeling")])
            .map(|s| s.1),
        Some(1.0)
    );
    shutdown(&mgr, tx).await;
}

/// Polls `targets()` until `f` holds (file SD changes are applied asynchronously).
async fn wait_targets(mgr: &ScrapeManager<RecordingSink>, what: &str, f: impl Fn(usize) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !f(mgr.targets().active_targets.len()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_returns_quickly_gets_no_stale_markers() {
    let srv = TestServer::start().await;
    srv.set("/metrics", Page::text("a 1\n"));
    let h = srv.host();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yml");
    std::fs::write(&file, format!("- targets: ['{h}']\n")).unwrap();
    let (mgr, sink, tx) = start(&format!(
        // 500ms leaves the re-add well inside the old loop's grace period even on a busy machine.
        "scrape_configs:\n  - job_name: j\n    scrape_interval: 500ms\n    file_sd_configs: [{{files: ['{}']}}]\n",
        file.display()
    ));
    sink.wait_batch(0, "first scrape", |b| b.up(&h) == Some(1.0))
        .await;
    std::fs::write(&file, "[]\n").unwrap();
    wait_targets(&mgr, "removal", |n| n == 0).await;
    std::fs::write(&file, format!("- targets: ['{h}']\n")).unwrap();
    wait_targets(&mgr, "return", |n| n == 1).await;
    // Past the old loop's grace period (2 intervals + 10%) with the new loop scraping.
    let mut from = sink.len();
    for _ in 0..3 {
        from = sink
            .wait_batch(from, "scrape after return", |b| b.up(&h) == Some(1.0))
            .await
            + 1;
    }
    assert!(
        !sink
            .batches
            .lock()
            .iter()
            .any(|b| b.is_stale(&[("__name__", "up")])),
        "the old loop's end-of-run stale markers were cancelled"
    );
    shutdown(&mgr, tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_moved_to_a_new_interval_keeps_its_series_fresh() {
    let srv = TestServer::start().await;
    srv.set("/metrics", Page::text("a 1\n"));
    let h = srv.host();
    let cfg = |iv: &str| {
        format!(
            "scrape_configs:\n  - job_name: j\n    scrape_interval: {iv}\n    static_configs: [{{targets: ['{h}']}}]\n"
        )
    };
    let (mgr, sink, tx) = start(&cfg("200ms"));
    sink.wait_batch(0, "first scrape", |b| b.up(&h) == Some(1.0))
        .await;
    mgr.apply_config(&ScrapeConfigFile::from_yaml(&cfg("300ms")).unwrap())
        .unwrap();
    assert_eq!(mgr.targets().active_targets[0].scrape_interval, "300ms");
    // Past the old loop's grace period (2 × 200ms + 10%).
    let mut from = sink.len();
    for _ in 0..3 {
        from = sink
            .wait_batch(from, "scrape at the new interval", |b| {
                b.up(&h) == Some(1.0)
            })
            .await
            + 1;
    }
    assert!(
        !sink
            .batches
            .lock()
            .iter()
            .any(|b| b.is_stale(&[("__name__", "a")]) || b.is_stale(&[("__name__", "up")])),
        "the new loop took over the series; no stale markers in between"
    );
    shutdown(&mgr, tx).await;
}
