//! Any bytes, parsed as both the Prometheus text format and OpenMetrics: parsing must never
//! panic, and every sample of a successful parse must carry a non-empty metric name.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_ingest::exposition::{parse, Format};

fuzz_target!(|data: &[u8]| {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let Ok(scrape) = parse(data, format) else {
            continue;
        };
        for sample in &scrape.samples {
            let name = sample.labels.metric_name();
            assert!(
                name.is_some_and(|n| !n.is_empty()),
                "sample without __name__: {:?}",
                sample.labels
            );
            if format == Format::PrometheusText {
                assert!(sample.exemplar.is_none() && sample.created_ms.is_none());
            }
        }
        for family in &scrape.families {
            assert!(!family.name.is_empty());
        }
    }
});
