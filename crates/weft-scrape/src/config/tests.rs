use super::*;

fn err_of(yaml: &str) -> String {
    ScrapeConfigFile::from_yaml(yaml)
        .expect_err(yaml)
        .to_string()
}

#[test]
fn full_config_with_defaults() {
    let yaml = r#"
global:
  scrape_interval: 15s
  external_labels: {region: eu}
rule_files: [rules.yml]
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['a:9100', 'b:9100']
        labels: {env: prod}
  - job_name: api
    scrape_interval: 1m30s
    scrape_timeout: 20s
    metrics_path: /m
    scheme: https
    params: {module: [http_2xx]}
    honor_labels: true
    honor_timestamps: false
    sample_limit: 100
    label_limit: 10
    label_name_length_limit: 20
    label_value_length_limit: 30
    body_size_limit: 10MB
    basic_auth: {username: u, password_file: pw.txt}
    tls_config: {insecure_skip_verify: true}
    file_sd_configs:
      - files: ['sd/*.json', 'sd/x.yml']
        refresh_interval: 30s
    relabel_configs:
      - {source_labels: [__address__], target_label: host}
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'go_.*', action: drop}
"#;
    let mut cfg = ScrapeConfigFile::from_yaml(yaml).unwrap();
    assert_eq!(cfg.global.external_labels["region"], "eu");
    cfg.resolve_paths(Path::new("/etc/weft"));
    let jobs = cfg.jobs().unwrap();
    let node = &jobs[0];
    assert_eq!(node.scrape_interval.to_string(), "15s");
    assert_eq!(node.scrape_timeout.to_string(), "10s");
    assert_eq!(node.metrics_path, "/metrics");
    assert_eq!(node.scheme, "http");
    assert!(node.honor_timestamps);
    assert_eq!(node.auth, Auth::None);
    let api = &jobs[1];
    assert_eq!(api.scrape_interval, PromDuration(90_000));
    assert_eq!(api.scrape_interval.to_string(), "1m30s");
    assert_eq!(api.scrape_timeout.to_string(), "20s");
    assert_eq!(api.scheme, "https");
    assert!(!api.honor_timestamps);
    assert_eq!(api.body_size_limit, 10 << 20);
    assert_eq!(
        api.auth,
        Auth::Basic {
            username: "u".into(),
            password: Some(Secret::File("/etc/weft/pw.txt".into()))
        }
    );
    assert_eq!(api.file_sd[0].refresh_interval, Duration::from_secs(30));
    assert_eq!(api.file_sd[0].files[0], "/etc/weft/sd/*.json");
    assert_eq!(api.relabel.len(), 1);
    assert_eq!(api.metric_relabel.len(), 1);
}

#[test]
fn timeout_defaults_follow_interval() {
    let cfg = ScrapeConfigFile::from_yaml(
        "scrape_configs:\n  - job_name: fast\n    scrape_interval: 5s\n  - job_name: slow\n",
    )
    .unwrap();
    let jobs = cfg.jobs().unwrap();
    assert_eq!(
        jobs[0].scrape_timeout.to_string(),
        "5s",
        "capped at the interval"
    );
    assert_eq!(jobs[1].scrape_interval.to_string(), "1m");
    assert_eq!(jobs[1].scrape_timeout.to_string(), "10s");
}

#[test]
fn auth_spellings() {
    let cfg = ScrapeConfigFile::from_yaml(
        "scrape_configs:\n\
         - {job_name: a, bearer_token: t}\n\
         - {job_name: b, authorization: {credentials_file: /c}}\n\
         - {job_name: c, authorization: {type: Token, credentials: x}}\n",
    )
    .unwrap();
    let jobs = cfg.jobs().unwrap();
    assert_eq!(
        jobs[0].auth,
        Auth::Header {
            kind: "Bearer".into(),
            credentials: Some(Secret::Inline("t".into()))
        }
    );
    assert_eq!(
        jobs[1].auth,
        Auth::Header {
            kind: "Bearer".into(),
            credentials: Some(Secret::File("/c".into()))
        }
    );
    assert_eq!(
        jobs[2].auth,
        Auth::Header {
            kind: "Token".into(),
            credentials: Some(Secret::Inline("x".into()))
        }
    );
}

#[test]
fn errors_name_key_job_and_field() {
    let cases = [
        ("scrape_configs:\n  - job_name: a\n    scrape_intervall: 1s\n", "scrape_intervall"),
        ("globl: {}\n", "globl"),
        ("scrape_configs:\n  - static_configs: []\n", "job_name"),
        ("scrape_configs:\n  - {job_name: a}\n  - {job_name: a}\n", "multiple scrape configs with job name \"a\""),
        ("scrape_configs:\n  - {job_name: a, scrape_interval: 10s, scrape_timeout: 11s}\n", "job \"a\": scrape_timeout"),
        ("global: {scrape_interval: 5s, scrape_timeout: 6s}\n", "global scrape timeout greater"),
        ("scrape_configs:\n  - {job_name: a, scrape_interval: 1x}\n", "not a valid duration"),
        ("scrape_configs:\n  - {job_name: a, scheme: ftp}\n", "job \"a\": scheme"),
        ("scrape_configs:\n  - {job_name: a, bearer_token: x, bearer_token_file: y}\n", "bearer_token & bearer_token_file"),
        ("scrape_configs:\n  - {job_name: a, bearer_token: x, basic_auth: {username: u}}\n", "at most one of basic_auth"),
        ("scrape_configs:\n  - {job_name: a, basic_auth: {username: u, password: p, password_file: f}}\n", "password & password_file"),
        ("scrape_configs:\n  - {job_name: a, authorization: {type: Basic, credentials: x}}\n", "basic_auth"),
        ("scrape_configs:\n  - {job_name: a, authorization: {credentials: x, credentials_file: y}}\n", "credentials & credentials_file"),
        ("scrape_configs:\n  - {job_name: a, tls_config: {cert_file: c}}\n", "job \"a\": tls_config"),
        ("scrape_configs:\n  - {job_name: a, static_configs: [{targets: ['http://x:1']}]}\n", "not a valid hostname"),
        ("scrape_configs:\n  - {job_name: a, file_sd_configs: [{files: ['a/*/b.json']}]}\n", "not valid for file discovery"),
        ("scrape_configs:\n  - {job_name: a, file_sd_configs: [{files: ['a.txt']}]}\n", "file_sd_configs[0].files"),
        ("scrape_configs:\n  - {job_name: a, relabel_configs: [{action: keep}, {action: hashmod, target_label: x}]}\n", "job \"a\": relabel_configs[1]"),
        ("scrape_configs:\n  - {job_name: a, metric_relabel_configs: [{action: nope}]}\n", "metric_relabel_configs[0]"),
        ("scrape_configs:\n  - {job_name: a, body_size_limit: 5XB}\n", "unit"),
        ("scrape_configs:\n  - {job_name: a, tls_config: {verify: false}}\n", "verify"),
        ("scrape_configs:\n  - {job_name: ''}\n", "job_name is empty"),
    ];
    for (yaml, want) in cases {
        let err = err_of(yaml);
        assert!(err.contains(want), "{yaml}: got {err:?}, want {want:?}");
    }
}

#[test]
fn durations_and_sizes() {
    for (ms, s) in [
        (0, "0s"),
        (1500, "1s500ms"),
        (90_000, "1m30s"),
        (3_600_000, "1h"),
        (7 * 86_400_000, "1w"),
        (8 * 86_400_000, "8d"),
    ] {
        assert_eq!(PromDuration(ms).to_string(), s);
        assert_eq!(PromDuration::parse(s).unwrap(), PromDuration(ms));
    }
    assert_eq!(ByteSize::parse("1KB").unwrap(), ByteSize(1024));
    assert_eq!(ByteSize::parse("2MiB").unwrap(), ByteSize(2 << 20));
    assert_eq!(ByteSize::parse("512").unwrap(), ByteSize(512));
    assert!(ByteSize::parse("MB").is_err());
}

#[test]
fn embeds_in_a_larger_config() {
    #[derive(serde::Deserialize)]
    struct Server {
        #[allow(dead_code)]
        listen: String,
        scrape: ScrapeConfigFile,
    }
    let s: Server = serde_yaml::from_str(
        "listen: ':9090'\nscrape:\n  global: {scrape_interval: 30s}\n  scrape_configs: [{job_name: x}]\n",
    )
    .unwrap();
    s.scrape.validate().unwrap();
    assert_eq!(
        s.scrape.jobs().unwrap()[0].scrape_interval.to_string(),
        "30s"
    );
}
