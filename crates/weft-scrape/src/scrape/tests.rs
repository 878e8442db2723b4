use super::*;
use crate::config::ScrapeConfigFile;
use crate::discovery::static_groups;
use crate::target::targets_from_groups;
use weft_ingest::exposition::Format;

fn setup(extra: &str) -> (JobConfig, Target) {
    let yaml = format!(
        "scrape_configs:\n  - job_name: j\n    static_configs: [{{targets: ['h:1'], labels: {{env: p}}}}]\n{extra}"
    );
    let job = ScrapeConfigFile::from_yaml(&yaml)
        .unwrap()
        .jobs()
        .unwrap()
        .remove(0);
    let (mut active, _, _) = targets_from_groups(&job, &static_groups(&job));
    (job, active.remove(0))
}

fn labels(p: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(p.iter().copied()).unwrap()
}

fn process(
    job: &JobConfig,
    t: &Target,
    body: &str,
    prev: &HashSet<Labels>,
) -> Result<Processed, (ScrapeError, Counts)> {
    let scrape = exposition::parse(body.as_bytes(), Format::PrometheusText).unwrap();
    process_scrape(scrape, t, job, 1000, prev)
}

#[test]
fn target_labels_win_and_scraped_ones_are_exported() {
    let (job, t) = setup("");
    let scraped = labels(&[
        ("__name__", "m"),
        ("job", "scraped"),
        ("exported_job", "taken"),
        ("instance", "i"),
    ]);
    let got = mutate_sample_labels(&scraped, &t, false, &[]).unwrap();
    assert_eq!(got.get("job"), Some("j"));
    assert_eq!(got.get("instance"), Some("h:1"));
    assert_eq!(got.get("exported_instance"), Some("i"));
    assert_eq!(got.get("exported_job"), Some("taken"));
    assert_eq!(got.get("exported_exported_job"), Some("scraped"));
    assert_eq!(got.get("env"), Some("p"));
    let honored = mutate_sample_labels(&scraped, &t, true, &job.metric_relabel).unwrap();
    assert_eq!(honored.get("job"), Some("scraped"));
    assert_eq!(honored.get("instance"), Some("i"));
    assert_eq!(honored.get("env"), Some("p"));
    assert_eq!(honored.get("exported_exported_job"), None);
}

#[test]
fn process_counts_relabels_and_tracks() {
    let (job, t) = setup(
        "    metric_relabel_configs:\n      - {source_labels: [__name__], regex: 'drop_me', action: drop}\n",
    );
    let body =
        "# TYPE a counter\na_total 1\ndrop_me 2\nb{x=\"1\"} 3\nb{x=\"1\"} 4\nwith_ts 5 1234\n";
    let prev: HashSet<Labels> = [labels(&[
        ("__name__", "a_total"),
        ("env", "p"),
        ("instance", "h:1"),
        ("job", "j"),
    ])]
    .into();
    let p = process(&job, &t, body, &prev).unwrap();
    assert_eq!(
        p.counts,
        Counts {
            total: 5,
            added: 4,
            series_added: 2
        }
    );
    assert_eq!(p.samples.len(), 3, "duplicate b dropped");
    assert_eq!(p.samples[2].t_ms, 1234, "explicit timestamp honoured");
    assert_eq!(p.samples[0].t_ms, 1000);
    assert_eq!(
        p.tracked.len(),
        2,
        "timestamped series is not tracked for staleness"
    );
    assert_eq!(p.metadata[0].metric, "a");
    assert_eq!(p.metadata[0].kind, "counter");
}

#[test]
fn honor_timestamps_false_uses_scrape_time() {
    let (job, t) = setup("    honor_timestamps: false\n");
    let p = process(&job, &t, "m 1 1234\n", &HashSet::new()).unwrap();
    assert_eq!(p.samples[0].t_ms, 1000);
    assert_eq!(p.tracked.len(), 1);
}

#[test]
fn limits_fail_the_scrape() {
    let (job, t) = setup("    sample_limit: 2\n");
    let (e, counts) = process(&job, &t, "a 1\nb 1\nc 1\nd 1\n", &HashSet::new()).unwrap_err();
    assert!(matches!(e, ScrapeError::SampleLimit));
    assert_eq!(counts.total, 4, "counting continues past the limit");
    assert!(process(&job, &t, "a 1\nb 1\n", &HashSet::new()).is_ok());

    let (job, t) = setup("    label_limit: 4\n");
    let (e, _) = process(&job, &t, "a{x=\"1\"} 1\n", &HashSet::new()).unwrap_err();
    assert!(e.to_string().contains("label_limit exceeded"), "{e}");
    let (job, t) = setup("    label_value_length_limit: 3\n");
    let (e, _) = process(&job, &t, "a{x=\"long\"} 1\n", &HashSet::new()).unwrap_err();
    assert!(e.to_string().contains("label_value_length_limit"), "{e}");
    let (job, t) = setup("    label_name_length_limit: 3\n");
    let (e, _) = process(&job, &t, "a{long=\"1\"} 1\n", &HashSet::new()).unwrap_err();
    assert!(e.to_string().contains("label_name_length_limit"), "{e}");
}

#[test]
fn relabeling_away_the_name_fails() {
    let (job, t) =
        setup("    metric_relabel_configs:\n      - {regex: __name__, action: labeldrop}\n");
    let (e, _) = process(&job, &t, "a 1\n", &HashSet::new()).unwrap_err();
    assert!(matches!(e, ScrapeError::InvalidSample(_)));
}

#[test]
fn alignment_snaps_within_tolerance() {
    let iv = Duration::from_secs(1);
    assert_eq!(aligned_time(1000, iv, 3001), 3000);
    assert_eq!(aligned_time(1000, iv, 3002), 3000);
    assert_eq!(aligned_time(1000, iv, 3003), 3003);
    assert_eq!(aligned_time(1000, Duration::from_millis(100), 1101), 1100);
    assert_eq!(
        aligned_time(1000, Duration::from_millis(100), 1102),
        1102,
        "1% of 100ms is 1ms"
    );
}
