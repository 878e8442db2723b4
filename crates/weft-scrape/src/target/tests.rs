use super::*;
use crate::config::ScrapeConfigFile;
use crate::discovery::static_groups;

fn job(yaml: &str) -> JobConfig {
    ScrapeConfigFile::from_yaml(yaml)
        .unwrap()
        .jobs()
        .unwrap()
        .remove(0)
}

fn map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

#[test]
fn builds_labels_url_and_instance() {
    let j = job(
        "scrape_configs:\n  - job_name: j\n    scrape_interval: 15s\n    params: {module: [a, b], x: ['1 2']}\n    static_configs:\n      - targets: ['h:1']\n        labels: {env: p, __meta_x: y}\n",
    );
    let (active, dropped, errors) = targets_from_groups(&j, &static_groups(&j));
    assert!(dropped.is_empty() && errors.is_empty());
    let t = &active[0];
    let d = map(&t.discovered);
    assert_eq!(d["__address__"], "h:1");
    assert_eq!(d["__scheme__"], "http");
    assert_eq!(d["__metrics_path__"], "/metrics");
    assert_eq!(d["__scrape_interval__"], "15s");
    assert_eq!(d["__scrape_timeout__"], "10s");
    assert_eq!(d["__param_module"], "a");
    assert_eq!(d["__meta_x"], "y");
    assert_eq!(d["job"], "j");
    let public: BTreeMap<_, _> = t.public_labels().collect();
    assert_eq!(
        public,
        BTreeMap::from([("env", "p"), ("instance", "h:1"), ("job", "j")])
    );
    assert!(
        t.labels.get("__meta_x").is_none(),
        "meta labels go after relabeling"
    );
    assert_eq!(t.url, "http://h:1/metrics?module=a&module=b&x=1+2");
    assert_eq!(t.interval, Duration::from_secs(15));
}

#[test]
fn relabeling_shapes_targets() {
    let j = job(r#"
scrape_configs:
  - job_name: j
    params: {module: [a]}
    static_configs:
      - targets: ['h:1', 'h:2', 'drop:3', 'h:1']
    relabel_configs:
      - {source_labels: [__address__], regex: 'drop:.*', action: drop}
      - {source_labels: [__address__], regex: 'h:2', target_label: __param_module, replacement: b}
      - {source_labels: [__address__], regex: 'h:2', target_label: __metrics_path__, replacement: /other}
      - {source_labels: [__address__], regex: 'h:2', target_label: instance, replacement: two}
"#);
    let (active, dropped, errors) = targets_from_groups(&j, &static_groups(&j));
    assert!(errors.is_empty());
    assert_eq!(active.len(), 2, "duplicate h:1 deduplicated");
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].get("__address__"), Some("drop:3"));
    assert_eq!(active[0].url, "http://h:1/metrics?module=a");
    assert_eq!(active[1].url, "http://h:2/other?module=b");
    assert_eq!(active[1].labels.get("instance"), Some("two"));
}

#[test]
fn invalid_targets_are_reported() {
    let j = job(r#"
scrape_configs:
  - job_name: j
    scrape_interval: 10s
    static_configs: [{targets: ['a:1', 'b:1', 'c:1']}]
    relabel_configs:
      - {source_labels: [__address__], regex: 'a:1', target_label: __address__, replacement: ''}
      - {source_labels: [__address__], regex: 'b:1', target_label: __scrape_timeout__, replacement: 20s}
      - {source_labels: [__address__], regex: 'c:1', target_label: __scrape_interval__, replacement: nonsense}
"#);
    let (active, _, errors) = targets_from_groups(&j, &static_groups(&j));
    assert!(active.is_empty());
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("no address"));
    assert!(errors[1].contains("greater than scrape interval"));
    assert!(errors[2].contains("error parsing scrape interval"));
}

#[test]
fn offset_is_stable_and_within_interval() {
    let j = job("scrape_configs:\n  - {job_name: j, scrape_interval: 10s, static_configs: [{targets: ['h:1']}]}\n");
    let (active, _, _) = targets_from_groups(&j, &static_groups(&j));
    let t = &active[0];
    let now: u128 = 1_700_000_000_123_456_789;
    let o1 = t.offset(now, 0);
    assert!(o1 <= Duration::from_secs(10));
    // One second later the next scrape is one second closer (same phase in the interval).
    let o2 = t.offset(now + 1_000_000_000, 0);
    let diff = (o1.as_nanos() as i128 - o2.as_nanos() as i128).rem_euclid(10_000_000_000);
    assert_eq!(diff, 1_000_000_000);
    assert_ne!(t.offset(now, 12345), o1, "the seed moves the phase");
}
