//! Chunk-level tests: round trips of many kinds of series, the documented byte layout,
//! compression on a realistic series, reload-and-append, and robustness against corrupt input.

use super::*;

/// Prometheus' stale marker: a NaN with a specific payload that must survive bit-exactly.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Deterministic splitmix64, so failures reproduce without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

type Samples = Vec<(i64, u64)>;

fn bits_of(samples: &[(i64, f64)]) -> Samples {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

/// Builds one chunk from `samples` (at most MAX_SAMPLES, strictly increasing).
fn build(samples: &[(i64, u64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, f64::from_bits(v)).unwrap();
    }
    c
}

/// Every way of reading a chunk back must give exactly `samples`.
fn assert_round_trip(samples: &[(i64, u64)]) -> XorChunk {
    let c = build(samples);
    assert_eq!(c.len(), samples.len());
    assert_eq!(c.is_empty(), samples.is_empty());
    assert_eq!(c.min_time(), samples.first().map(|s| s.0));
    assert_eq!(c.max_time(), samples.last().map(|s| s.0));
    assert_eq!(bits_of(&c.iter().collect::<Vec<_>>()), samples);
    assert_eq!(bits_of(&decode(c.bytes()).unwrap()), samples);
    let reloaded = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
    assert_eq!(reloaded, c);
    c
}

/// A random series of one of several shapes, `n` samples, strictly increasing timestamps.
fn random_series(rng: &mut Rng, n: usize) -> Samples {
    let kind = rng.below(9);
    let interval = [1_000, 10_000, 15_000, 30_000, 60_000][rng.below(5) as usize];
    let mut t = match rng.below(4) {
        0 => rng.range(-2_000_000_000_000, -1),
        1 => 0,
        _ => 1_700_000_000_000 + rng.range(0, 100_000_000),
    };
    let mut gauge = rng.unit() * 1000.0 - 500.0;
    let mut counter = 0.0f64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let v = match kind {
            // Counter with occasional resets.
            0 => {
                counter = if rng.below(50) == 0 {
                    0.0
                } else {
                    counter + rng.below(100) as f64
                };
                counter
            }
            // Slowly drifting float gauge.
            1 => {
                gauge += rng.unit() - 0.5;
                gauge
            }
            // Constant.
            2 => 42.0,
            // Arbitrary bit patterns: every NaN payload, subnormals, ±Inf, -0.0.
            3 => f64::from_bits(rng.next()),
            // Special values mixed with ordinary ones.
            4 => {
                let specials = [
                    f64::from_bits(STALE_NAN),
                    f64::NAN,
                    -f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.0,
                    0.0,
                    f64::MIN_POSITIVE,
                    f64::MAX,
                    f64::MIN,
                    f64::EPSILON,
                    1.5,
                ];
                specials[rng.below(specials.len() as u64) as usize]
            }
            // Integer gauge that changes sometimes.
            5 => {
                if rng.below(3) == 0 {
                    gauge = (gauge + rng.range(-3, 3) as f64).round();
                }
                gauge
            }
            // Values with large jumps in magnitude.
            6 => (rng.unit() - 0.5) * 10f64.powi(rng.range(-300, 300) as i32),
            // A series going stale and coming back.
            7 => {
                if i % 10 < 3 {
                    f64::from_bits(STALE_NAN)
                } else {
                    i as f64
                }
            }
            _ => rng.unit(),
        };
        out.push((t, v.to_bits()));
        let step = match rng.below(20) {
            // Large gap (restarted target, long outage).
            0 => rng.range(1, 1 << 40),
            // Tiny step.
            1 => rng.range(1, 3),
            // Regular interval with jitter of a few ms.
            _ => interval + rng.range(-25, 25),
        };
        t += step;
    }
    out
}

#[test]
fn empty_chunk() {
    let c = XorChunk::new();
    assert_eq!(c.bytes(), &[ENCODING_XOR, 0, 0]);
    assert!(c.is_empty());
    assert_eq!(c.min_time(), None);
    assert_eq!(c.max_time(), None);
    assert_eq!(c.iter().count(), 0);
    assert_eq!(decode(c.bytes()).unwrap(), vec![]);
    assert_eq!(XorChunk::from_bytes(c.bytes().to_vec()).unwrap(), c);
}

#[test]
fn byte_layout_matches_the_format_doc() {
    let c = build(&[
        (1000, 1f64.to_bits()),
        (2000, 1f64.to_bits()),
        (3000, 1f64.to_bits()),
    ]);
    #[rustfmt::skip]
    let expected = [
        ENCODING_XOR, 0, 3,                       // encoding, num_samples = 3 (big-endian)
        0xd0, 0x0f,                               // ts_0: zigzag(1000) = 2000 as LEB128
        0x3f, 0xf0, 0, 0, 0, 0, 0, 0,             // v_0: bits of 1.0
        0xe8, 0x07,                               // ts_1 delta 1000 as LEB128
        0b0000_0000,                              // v_1 xor `0`, ts_2 dod `0`, v_2 xor `0`, padding
    ];
    assert_eq!(c.bytes(), expected);

    // A value change opens a window (`11`, 5 bits leading, 6 bits sig, sig bits); a change
    // that does not fit it opens another; one that fits is sent as `10` + the window's bits.
    let one = 1f64.to_bits();
    let values = [one, one ^ 0b1000, one ^ 0b0010, one ^ 0b0110];
    let samples: Samples = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64, v))
        .collect();
    let c = build(&samples);
    // Skip header, ts_0 (1 byte), v_0 (8 bytes), ts_1 delta (1 byte).
    let tail = &c.bytes()[HEADER_LEN + 1 + 8 + 1..];
    let expected_bits = [
        // v_1: x = 0b1000: leading 60 capped to 31, trailing 3, so sig = 30.
        format!("11{:05b}{:06b}{:030b}", 31, 30, 1),
        "0".to_string(), // ts_2 dod 0
        // v_2: x = 0b1010, trailing 1 < 3: new window, sig = 32.
        format!("11{:05b}{:06b}{:032b}", 31, 32, 0b101),
        "0".to_string(), // ts_3 dod 0
        // v_3: x = 0b0100 fits the window (31, 1): reuse.
        format!("10{:032b}", 0b10),
    ]
    .concat();
    let got: String = tail.iter().map(|b| format!("{b:08b}")).collect();
    assert_eq!(&got[..expected_bits.len()], expected_bits);
    assert!(
        got[expected_bits.len()..].chars().all(|c| c == '0'),
        "padding"
    );
    assert!(got.len() - expected_bits.len() < 8);
    assert_eq!(bits_of(&decode(c.bytes()).unwrap()), samples);
}

#[test]
fn many_random_series_round_trip() {
    let mut rng = Rng(0x5eed);
    for _ in 0..2000 {
        let n = rng.below(MAX_SAMPLES as u64 + 1) as usize;
        let samples = random_series(&mut rng, n);
        assert_round_trip(&samples);
    }
}

#[test]
fn special_values_round_trip_bit_exactly() {
    let values = [
        STALE_NAN,
        f64::NAN.to_bits(),
        (-f64::NAN).to_bits(),
        0x7ff0_0000_0000_0001, // signalling NaN
        0xfff8_dead_beef_0001, // negative NaN with a payload
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        (-0.0f64).to_bits(),
        0,
        1, // smallest subnormal
        u64::MAX,
        STALE_NAN,
        STALE_NAN,
    ];
    let samples: Samples = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * 15_000, v))
        .collect();
    assert_round_trip(&samples);
}

#[test]
fn timestamp_extremes() {
    let v = 1f64.to_bits();
    assert_round_trip(&[(i64::MIN, v)]);
    assert_round_trip(&[(i64::MAX, v)]);
    assert_round_trip(&[(i64::MIN, v), (-1, v), (i64::MAX - 1, v), (i64::MAX, v)]);
    assert_round_trip(&[
        (i64::MIN, v),
        (i64::MIN + 1, v),
        (0, v),
        (1, v),
        (i64::MAX, v),
    ]);
    // Largest possible deltas, both directions of the delta-of-delta.
    assert_round_trip(&[(-1, v), (i64::MAX - 1, v), (i64::MAX, v)]);
    assert_round_trip(&[(i64::MIN, v), (i64::MIN + 1, v), (0, v), (i64::MAX, v)]);

    let mut c = build(&[(i64::MIN, v)]);
    let err = c.append(i64::MAX, 2.0).unwrap_err();
    assert_eq!(
        err,
        ChunkError::DeltaOverflow {
            prev: i64::MIN,
            t: i64::MAX
        }
    );
    assert_eq!(c.len(), 1);
}

#[test]
fn out_of_order_is_rejected_and_leaves_the_chunk_unchanged() {
    let mut c = build(&[(1000, 1f64.to_bits()), (2000, 2f64.to_bits())]);
    let before = c.clone();
    assert_eq!(
        c.append(2000, 3.0),
        Err(ChunkError::OutOfOrder {
            prev: 2000,
            t: 2000
        })
    );
    assert_eq!(
        c.append(1500, 3.0),
        Err(ChunkError::OutOfOrder {
            prev: 2000,
            t: 1500
        })
    );
    assert_eq!(
        c.append(i64::MIN, 3.0),
        Err(ChunkError::OutOfOrder {
            prev: 2000,
            t: i64::MIN
        })
    );
    assert_eq!(c, before);
    c.append(2001, 3.0).unwrap();
    assert_eq!(c.len(), 3);
}

#[test]
fn full_after_max_samples_but_order_checked_first() {
    let mut c = XorChunk::new();
    for i in 0..MAX_SAMPLES as i64 {
        assert!(!c.is_full());
        c.append(i * 10, i as f64).unwrap();
    }
    assert!(c.is_full());
    let before = c.clone();
    assert_eq!(c.append(1_000_000, 0.0), Err(ChunkError::Full));
    assert_eq!(
        c.append(0, 0.0),
        Err(ChunkError::OutOfOrder { prev: 1190, t: 0 })
    );
    assert_eq!(c, before);
    let reloaded = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
    assert!(reloaded.is_full());
}

#[test]
fn decoder_accepts_more_than_max_samples() {
    // The format allows up to u16::MAX samples so that the limit can be raised later.
    let mut c = build(&[(0, 0)]);
    let mut state = c.state.unwrap();
    for i in 1..1000 {
        xor::write_next(&mut c.w, &mut state, 1, (i as f64).to_bits());
    }
    c.state = Some(state);
    c.set_count(1000);
    let decoded = decode(c.bytes()).unwrap();
    assert_eq!(decoded.len(), 1000);
    assert_eq!(decoded[999], (999, 999.0));
    let reloaded = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
    assert!(reloaded.is_full());
}

#[test]
fn append_after_reload_continues_identically() {
    let mut rng = Rng(7);
    for _ in 0..200 {
        let samples = random_series(&mut rng, MAX_SAMPLES);
        let whole = build(&samples);
        let split = rng.below(MAX_SAMPLES as u64 + 1) as usize;
        let mut part = XorChunk::from_bytes(build(&samples[..split]).into_bytes()).unwrap();
        for &(t, v) in &samples[split..] {
            part.append(t, f64::from_bits(v)).unwrap();
        }
        assert_eq!(part.bytes(), whole.bytes(), "split at {split}");
        assert_eq!(part, whole);
    }
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    let mut rng = Rng(99);
    for _ in 0..30 {
        let n = rng.below(MAX_SAMPLES as u64) as usize + 1;
        let c = build(&random_series(&mut rng, n));
        let bytes = c.bytes();
        for len in 0..bytes.len() {
            let err = decode(&bytes[..len]).unwrap_err();
            assert!(
                matches!(err, ChunkError::Corrupt { offset, .. } if offset <= len),
                "{err}"
            );
            assert!(XorChunk::from_bytes(bytes[..len].to_vec()).is_err());
        }
        for extra in [0u8, 1, 0xff] {
            let mut longer = bytes.to_vec();
            longer.push(extra);
            let err = decode(&longer).unwrap_err();
            assert!(
                matches!(err, ChunkError::Corrupt { offset, .. } if offset == bytes.len()),
                "{err}"
            );
        }
    }
}

#[test]
fn header_errors() {
    assert!(matches!(
        decode(&[]),
        Err(ChunkError::Corrupt { offset: 0, .. })
    ));
    assert!(matches!(
        decode(&[1, 0]),
        Err(ChunkError::Corrupt { offset: 2, .. })
    ));
    assert_eq!(
        decode(&[2, 0, 0]),
        Err(ChunkError::UnsupportedEncoding { encoding: 2 })
    );
    // A count far beyond the data fails cleanly (and does not allocate for 65535 samples).
    assert!(matches!(
        decode(&[1, 0xff, 0xff, 0]),
        Err(ChunkError::Corrupt { .. })
    ));
    // Non-zero padding.
    let c = build(&[(0, 0), (1, 0)]);
    let mut bytes = c.bytes().to_vec();
    *bytes.last_mut().unwrap() |= 1;
    let err = decode(&bytes).unwrap_err();
    assert!(err.to_string().contains("padding"), "{err}");
}

#[test]
fn corrupted_bytes_never_panic() {
    let mut rng = Rng(0xbad);
    let mut accepted = 0;
    for _ in 0..200 {
        let n = rng.below(MAX_SAMPLES as u64) as usize + 1;
        let c = build(&random_series(&mut rng, n));
        for _ in 0..100 {
            let mut bytes = c.bytes().to_vec();
            for _ in 0..=rng.below(3) {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] ^= 1 << rng.below(8);
            }
            let decoded = decode(&bytes);
            let loaded = XorChunk::from_bytes(bytes.clone());
            assert_eq!(decoded.is_ok(), loaded.is_ok());
            if let (Ok(decoded), Ok(mut loaded)) = (decoded, loaded) {
                // Whatever was accepted behaves like a real chunk.
                accepted += 1;
                assert_eq!(
                    bits_of(&loaded.iter().collect::<Vec<_>>()),
                    bits_of(&decoded)
                );
                if let Some(t) = loaded.max_time().and_then(|t| t.checked_add(15_000)) {
                    match loaded.append(t, 1.0) {
                        Ok(()) => {
                            let again = decode(loaded.bytes()).unwrap();
                            assert_eq!(again.len(), decoded.len() + 1);
                        }
                        Err(e) => assert_eq!(e, ChunkError::Full),
                    }
                }
            }
        }
    }
    // Flipped value bits decode to other values, so some corruptions are accepted; that is
    // what the container's CRC is for.
    assert!(accepted > 0);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(3);
    for _ in 0..20_000 {
        let len = rng.below(64) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len > 0 && rng.below(2) == 0 {
            bytes[0] = ENCODING_XOR;
        }
        let _ = decode(&bytes);
        let _ = XorChunk::from_bytes(bytes);
    }
}

/// A realistic scrape series: 15 s interval, most scrapes on time (the scrape loop aligns
/// timestamps), some with a few ms of jitter, and a slowly changing integer gauge
/// (e.g. open connections).
fn realistic_series(rng: &mut Rng, n: usize) -> Samples {
    let mut t = 1_700_000_000_000i64;
    let mut v = 250.0f64;
    (0..n)
        .map(|_| {
            let jitter = if rng.below(10) == 0 {
                rng.range(-5, 5)
            } else {
                0
            };
            t += 15_000 + jitter;
            if rng.below(4) == 0 {
                v += rng.range(-2, 2) as f64;
            }
            (t, v.to_bits())
        })
        .collect()
}

#[test]
fn compression_of_a_realistic_series() {
    let mut rng = Rng(15);
    let (mut samples, mut bytes) = (0usize, 0usize);
    for _ in 0..100 {
        let series = realistic_series(&mut rng, MAX_SAMPLES);
        let c = assert_round_trip(&series);
        samples += c.len();
        bytes += c.bytes().len();
    }
    let per_sample = bytes as f64 / samples as f64;
    println!("realistic 15 s gauge: {per_sample:.3} bytes/sample over {samples} samples");
    assert!(per_sample < 2.0, "{per_sample} bytes/sample");

    // The same gauge with a few ms of jitter on every scrape (no timestamp alignment).
    let mut rng = Rng(17);
    let mut jitter = Rng(18);
    let mut jittered = 0usize;
    for _ in 0..100 {
        let series: Samples = realistic_series(&mut rng, MAX_SAMPLES)
            .into_iter()
            .map(|(t, v)| (t + jitter.range(-5, 5), v))
            .collect();
        jittered += assert_round_trip(&series).bytes().len();
    }
    let jittered = jittered as f64 / samples as f64;
    println!("same, every scrape jittered by up to ±5 ms: {jittered:.3} bytes/sample");
    assert!(jittered < 2.0, "{jittered} bytes/sample");

    // Worst realistic case for values: a float gauge with full-precision drift.
    let mut rng = Rng(16);
    let mut t = 0;
    let mut g = 0.5f64;
    let series: Samples = (0..MAX_SAMPLES)
        .map(|_| {
            t += 15_000;
            g += rng.unit() * 0.01;
            (t, g.to_bits())
        })
        .collect();
    let c = assert_round_trip(&series);
    println!(
        "full-precision float gauge: {:.3} bytes/sample",
        c.bytes().len() as f64 / c.len() as f64
    );
}

#[test]
#[ignore = "micro benchmark; run with --release -- --ignored --nocapture"]
fn bench_encode_decode() {
    use std::time::Instant;
    let mut rng = Rng(1);
    let chunks: Vec<Samples> = (0..2000)
        .map(|_| realistic_series(&mut rng, MAX_SAMPLES))
        .collect();
    let n = (chunks.len() * MAX_SAMPLES) as f64;

    let start = Instant::now();
    let built: Vec<XorChunk> = chunks.iter().map(|s| build(s)).collect();
    let enc = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut sum = 0.0;
    for c in &built {
        sum += c.iter().map(|(_, v)| v).sum::<f64>();
    }
    let dec = start.elapsed().as_secs_f64();
    println!(
        "encode {:.1} M samples/s, decode {:.1} M samples/s ({sum})",
        n / enc / 1e6,
        n / dec / 1e6
    );
}

// ---- float-histogram chunks (encoding 2) ----

use super::histogram::testing::counter_histogram;
use crate::promql::histogram::CounterResetHint;

/// Bit-exact view of a decoded sample, so that NaN payloads and -0.0 compare.
fn sample_fp(s: &Sample) -> (i64, (bool, u64)) {
    (s.0, s.1.fingerprint())
}

fn hist(h: FloatHistogram) -> SampleValue {
    SampleValue::Histogram(Box::new(h))
}

#[test]
fn histogram_chunk_round_trips_layout_changes_and_stale_markers() {
    let mut want: Vec<Sample> = Vec::new();
    let mut c = HistogramChunk::new();
    let mut t = 1_700_000_000_000i64;
    for i in 0..60u32 {
        t += 15_000 + i64::from(i % 3) - 1;
        let v = match i {
            // Stale markers, also right after a layout change.
            9 | 10 | 30 => SampleValue::Float(f64::from_bits(STALE_NAN)),
            // Odd values must survive bit-exactly.
            20 => {
                let mut h = counter_histogram(i, false);
                h.sum = f64::from_bits(0x7ff8_0000_dead_beef);
                h.zero_count = -0.0;
                h.hint = CounterResetHint::Gauge;
                hist(h)
            }
            // Custom buckets in between (another schema: a layout change both ways).
            40..=44 => hist(counter_histogram(i, true)),
            // A counter reset.
            50 => hist(counter_histogram(1, false)),
            _ => hist(counter_histogram(i, false)),
        };
        match &v {
            SampleValue::Histogram(h) => c.append(t, Some(h)).unwrap(),
            SampleValue::Float(_) => c.append(t, None).unwrap(),
        }
        want.push((t, v));
        // Valid after every append, and reloading continues where it stopped.
        let got = decode_samples(c.bytes()).unwrap();
        assert_eq!(got.len(), want.len());
    }
    let fps = |s: &[Sample]| s.iter().map(sample_fp).collect::<Vec<_>>();
    assert_eq!(fps(&c.samples()), fps(&want));
    assert_eq!(c.min_time(), Some(want[0].0));
    assert_eq!(c.max_time(), Some(t));
    let mut reloaded = HistogramChunk::from_bytes(c.bytes().to_vec()).unwrap();
    assert_eq!(reloaded, c);
    let next = counter_histogram(61, false);
    reloaded.append(t + 15_000, Some(&next)).unwrap();
    c.append(t + 15_000, Some(&next)).unwrap();
    assert_eq!(reloaded.bytes(), c.bytes());
    // Through the generic chunk type too.
    let generic = Chunk::from_bytes(c.bytes().to_vec()).unwrap();
    assert_eq!(generic.len(), 61);
    assert!(matches!(generic, Chunk::Histogram(_)));
}

#[test]
fn histogram_chunk_refuses_what_it_cannot_store() {
    let mut c = HistogramChunk::new();
    let h = counter_histogram(3, false);
    c.append(1000, Some(&h)).unwrap();
    assert_eq!(
        c.append(1000, Some(&h)),
        Err(ChunkError::OutOfOrder {
            prev: 1000,
            t: 1000
        })
    );
    let mut unsorted = h.clone();
    unsorted.positive.swap(0, 1);
    assert!(matches!(
        c.append(2000, Some(&unsorted)),
        Err(ChunkError::InvalidHistogram { .. })
    ));
    let mut huge = h.clone();
    huge.positive = (0..MAX_HISTOGRAM_BUCKETS as i32 + 1)
        .map(|i| (i, 1.0))
        .collect();
    assert!(matches!(
        c.append(2000, Some(&huge)),
        Err(ChunkError::InvalidHistogram { .. })
    ));
    assert_eq!(c.len(), 1, "refused samples leave the chunk unchanged");
    // Kinds: an XOR chunk takes no histogram, a histogram chunk only stale floats.
    let mut x = Chunk::default();
    assert_eq!(x.append(1, &hist(h.clone())), Err(ChunkError::WrongKind));
    let mut hc = Chunk::Histogram(c);
    assert_eq!(
        hc.append(5000, &SampleValue::Float(1.0)),
        Err(ChunkError::WrongKind)
    );
    hc.append(5000, &SampleValue::Float(f64::from_bits(STALE_NAN)))
        .unwrap();
}

#[test]
fn histogram_chunks_are_full_by_samples_or_bytes() {
    // Few buckets: 120 samples.
    let mut c = HistogramChunk::new();
    let mut n = 0;
    while !c.is_full() {
        c.append(n * 1000, Some(&counter_histogram(n as u32, false)))
            .unwrap();
        n += 1;
    }
    assert_eq!(n, MAX_SAMPLES as i64);
    assert_eq!(
        c.append(n * 1000, Some(&counter_histogram(0, false))),
        Err(ChunkError::Full)
    );
    // Many changing buckets: the byte limit first.
    let mut c = HistogramChunk::new();
    let mut big = counter_histogram(1, false);
    big.positive = (0..200).map(|i| (i, 0.0)).collect();
    let mut n = 0;
    while !c.is_full() {
        for b in big.positive.iter_mut() {
            b.1 += 1.0 + f64::from(b.0) * 0.37;
        }
        c.append(n * 1000, Some(&big)).unwrap();
        n += 1;
    }
    assert!(n < MAX_SAMPLES as i64, "{n} samples");
    assert!(c.bytes().len() >= HISTOGRAM_CHUNK_BYTES);
    assert!(c.bytes().len() < HISTOGRAM_CHUNK_BYTES + 4096);
}

#[test]
fn histogram_chunk_compresses_a_steady_counter() {
    let mut c = HistogramChunk::new();
    let mut h = counter_histogram(50, false);
    for i in 0..MAX_SAMPLES as i64 {
        // Most buckets unchanged, one growing by an integer: the common counter shape.
        h.positive[1].1 += 1.0;
        h.count += 1.0;
        h.sum += 0.5;
        c.append(i * 15_000, Some(&h)).unwrap();
    }
    let per_sample = c.bytes().len() as f64 / MAX_SAMPLES as f64;
    // 10 fields; unchanged ones cost 1 bit, the layout is written once.
    assert!(per_sample < 8.0, "{per_sample} bytes per sample");
}

#[test]
fn corrupt_histogram_chunks_fail_cleanly() {
    let mut c = HistogramChunk::new();
    for i in 0..30u32 {
        c.append(i64::from(i) * 1000, Some(&counter_histogram(i, i % 10 > 6)))
            .unwrap();
    }
    let bytes = c.bytes().to_vec();
    for cut in 0..bytes.len() {
        assert!(decode_samples(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut rng = Rng(7);
    for _ in 0..2000 {
        let mut b = bytes.clone();
        let at = rng.below(b.len() as u64) as usize;
        b[at] ^= 1 << rng.below(8);
        let _ = decode_samples(&b);
        let _ = HistogramChunk::from_bytes(b);
    }
    // A layout reuse before any layout.
    let mut w = BitWriter::new();
    w.write_bits(u64::from(ENCODING_HISTOGRAM), 8);
    w.write_bits(1, 16);
    w.write_bits(0, 8); // ts 0
    w.write_bits(0b0000, 4); // not stale, hint 0, layout reused
    w.write_bits(0, 3);
    let err = decode_samples(w.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("layout"), "{err}");
}

#[test]
fn chunks_from_samples_cuts_at_kind_changes() {
    let mut samples: Vec<Sample> = Vec::new();
    for i in 0..10i64 {
        samples.push((i, SampleValue::Float(i as f64)));
    }
    for i in 10..20i64 {
        samples.push((i, hist(counter_histogram(i as u32, false))));
    }
    samples.push((20, SampleValue::Float(f64::from_bits(STALE_NAN))));
    samples.push((21, SampleValue::Float(3.0)));
    let chunks = chunks_from_samples(&samples).unwrap();
    let kinds: Vec<(bool, usize)> = chunks
        .iter()
        .map(|c| (matches!(c, Chunk::Histogram(_)), c.len()))
        .collect();
    // The stale marker stays with the histograms.
    assert_eq!(kinds, vec![(false, 10), (true, 11), (false, 1)]);
    let back: Vec<Sample> = chunks.iter().flat_map(|c| c.samples()).collect();
    let fps = |s: &[Sample]| s.iter().map(sample_fp).collect::<Vec<_>>();
    assert_eq!(fps(&back), fps(&samples));
    let lists = SampleLists::split(back);
    assert_eq!(lists.floats.len(), 12);
    assert_eq!(lists.histograms.len(), 10);
    assert_eq!(fps(&lists.joined()), fps(&samples));
}
