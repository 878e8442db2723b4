//! A node-exporter-like fleet: `hosts` machines, each exporting about 100 series
//! (`--cpus 4`) with the label sets and value shapes of the real thing.
//!
//! Values are deterministic functions of (`seed`, series, sample index), so any
//! window of samples can be generated on its own (`--from-sample`): counters
//! that only increase, gauges that wander inside a range, constants, and the
//! clock. Every series of one host shares the host's scrape timestamps
//! (interval plus a per-host phase and a few milliseconds of jitter), as a
//! Prometheus scrape would produce.

/// How a series' value evolves from one scrape to the next.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Increases by about `per_sec × interval` (±`jitter` relative), rounded to `quantum`.
    /// `per_sec == 0` stays constant at its start value (an idle CPU mode, no errors).
    Counter {
        per_sec: f64,
        jitter: f64,
        quantum: f64,
    },
    /// Random walk of step `step × range` inside `[lo, hi]`, rounded to `quantum`.
    Gauge {
        lo: f64,
        hi: f64,
        step: f64,
        quantum: f64,
    },
    /// Never changes.
    Const,
    /// `node_time_seconds`: the sample's own timestamp in seconds.
    Clock,
}

pub struct Series {
    pub host: u32,
    /// Labels sorted by name, `__name__` first.
    pub labels: Vec<(String, String)>,
    pub shape: Shape,
    pub start: f64,
}

pub struct Fleet {
    pub series: Vec<Series>,
    pub seed: u64,
    pub interval_ms: i64,
    pub start_ms: i64,
    pub jitter_ms: i64,
}

/// SplitMix64: tiny, fast, good enough for load generation, and stable across versions.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [-1, 1).
    pub fn signed(&mut self) -> f64 {
        self.f64() * 2.0 - 1.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `v` rounded to a multiple of `q`, as an exporter would print it. A decimal quantum
/// (`0.01`, `0.001`) divides the integer count by the power of ten, as node_exporter turns
/// kernel ticks into seconds (`ticks / 100.0`): the result is the double nearest the
/// decimal, the same one a parser of the exporter's text gets. Multiplying by `q` instead
/// would give doubles such as `1.2300000000000002` that no exporter sends.
fn round_to(v: f64, q: f64) -> f64 {
    if q <= 0.0 {
        return v;
    }
    if q < 1.0 {
        let per_unit = (1.0 / q).round();
        if (per_unit * q - 1.0).abs() < 1e-12 {
            return (v * per_unit).round() / per_unit;
        }
    }
    (v / q).round() * q
}

const CPU_MODES: [(&str, f64); 8] = [
    ("idle", 0.80),
    ("iowait", 0.01),
    ("irq", 0.0),
    ("nice", 0.0),
    ("softirq", 0.004),
    ("steal", 0.001),
    ("system", 0.05),
    ("user", 0.13),
];
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const CLUSTERS: [&str; 4] = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"];

impl Fleet {
    pub fn new(
        hosts: u32,
        cpus: u32,
        seed: u64,
        interval_ms: i64,
        start_ms: i64,
        jitter_ms: i64,
    ) -> Fleet {
        let mut series = Vec::new();
        for h in 0..hosts {
            host_series(h, cpus, seed, &mut series);
        }
        Fleet {
            series,
            seed,
            interval_ms,
            start_ms,
            jitter_ms,
        }
    }

    /// Scrape timestamp of sample `k` of host `h` (ms).
    pub fn timestamp(&self, host: u32, k: u64) -> i64 {
        let phase = (mix(self.seed ^ (host as u64) << 20) % self.interval_ms as u64) as i64;
        let jitter = if self.jitter_ms > 0 {
            let r = mix(self.seed ^ ((host as u64) << 40) ^ k ^ 0x5eed);
            (r % (2 * self.jitter_ms as u64 + 1)) as i64 - self.jitter_ms
        } else {
            0
        };
        self.start_ms + k as i64 * self.interval_ms + phase + jitter
    }

    /// A cursor over the values of series `i`, positioned at sample 0.
    pub fn cursor(&self, i: usize) -> Cursor {
        let s = &self.series[i];
        Cursor {
            rng: Rng::new(self.seed ^ mix(i as u64 + 1)),
            value: s.start,
            shape: s.shape,
            k: 0,
            interval_s: self.interval_ms as f64 / 1000.0,
        }
    }
}

/// The evolving value of one series.
pub struct Cursor {
    rng: Rng,
    value: f64,
    shape: Shape,
    k: u64,
    interval_s: f64,
}

impl Cursor {
    /// Value of the current sample, then moves to the next one. `ts_ms` is the
    /// sample's timestamp (for [`Shape::Clock`]).
    pub fn next(&mut self, ts_ms: i64) -> f64 {
        let v = match self.shape {
            Shape::Clock => ts_ms as f64 / 1000.0,
            _ => self.value,
        };
        self.advance();
        v
    }

    /// Moves to the next sample without producing a value (fast-forward).
    pub fn advance(&mut self) {
        self.k += 1;
        match self.shape {
            Shape::Counter {
                per_sec,
                jitter,
                quantum,
            } => {
                if per_sec > 0.0 {
                    let inc = per_sec * self.interval_s * (1.0 + jitter * self.rng.signed());
                    self.value = round_to(self.value + inc.max(0.0), quantum);
                }
            }
            Shape::Gauge {
                lo,
                hi,
                step,
                quantum,
            } => {
                let v = self.value + step * (hi - lo) * self.rng.signed();
                self.value = round_to(v.clamp(lo, hi), quantum);
            }
            Shape::Const | Shape::Clock => {}
        }
    }
}

fn push(
    out: &mut Vec<Series>,
    host: u32,
    base: &[(String, String)],
    name: &str,
    extra: &[(&str, &str)],
    shape: Shape,
    start: f64,
) {
    let mut labels: Vec<(String, String)> = base.to_vec();
    labels.push(("__name__".into(), name.into()));
    for (k, v) in extra {
        labels.push((k.to_string(), v.to_string()));
    }
    labels.sort();
    out.push(Series {
        host,
        labels,
        shape,
        start,
    });
}

/// About `8 × cpus + 71` series for host `h`.
fn host_series(h: u32, cpus: u32, seed: u64, out: &mut Vec<Series>) {
    let mut r = Rng::new(seed ^ mix(0xf1ee7 + h as u64));
    let base = vec![
        (
            "cluster".to_string(),
            CLUSTERS[h as usize % CLUSTERS.len()].to_string(),
        ),
        (
            "instance".to_string(),
            format!("10.{}.{}.{}:9100", 20 + h / 65536, (h / 256) % 256, h % 256),
        ),
        ("job".to_string(), "node".to_string()),
    ];
    let uptime = 86_400.0 * (1.0 + r.below(90) as f64);
    let busy = 0.3 + 1.4 * r.f64(); // scales CPU, disk and network activity per host
    let b = &base;

    // node_cpu_seconds_total{cpu, mode}
    for c in 0..cpus {
        let cpu = c.to_string();
        for (mode, share) in CPU_MODES {
            let per_sec = if mode == "idle" {
                1.0 - 0.2 * busy
            } else {
                share * busy
            };
            let per_sec = if share == 0.0 { 0.0 } else { per_sec };
            push(
                out,
                h,
                b,
                "node_cpu_seconds_total",
                &[("cpu", &cpu), ("mode", mode)],
                Shape::Counter {
                    per_sec,
                    jitter: 0.5,
                    quantum: 0.01,
                },
                round_to(uptime * per_sec, 0.01),
            );
        }
    }

    // Memory gauges (bytes, page-aligned).
    let total = [8.0, 16.0, 32.0, 64.0, 128.0][r.below(5) as usize] * GIB;
    let page = 4096.0;
    let mem: [(&str, f64, f64); 10] = [
        ("MemTotal", total, total),
        ("MemFree", 0.05 * total, 0.4 * total),
        ("MemAvailable", 0.2 * total, 0.7 * total),
        ("Buffers", 0.001 * total, 0.02 * total),
        ("Cached", 0.1 * total, 0.5 * total),
        ("SwapTotal", 2.0 * GIB, 2.0 * GIB),
        ("SwapFree", 1.5 * GIB, 2.0 * GIB),
        ("Active", 0.1 * total, 0.5 * total),
        ("Inactive", 0.05 * total, 0.3 * total),
        ("Dirty", 0.0, 64.0 * 1024.0 * 1024.0),
    ];
    for (name, lo, hi) in mem {
        let shape = if lo == hi {
            Shape::Const
        } else {
            Shape::Gauge {
                lo,
                hi,
                step: 0.002,
                quantum: page,
            }
        };
        push(
            out,
            h,
            b,
            &format!("node_memory_{name}_bytes"),
            &[],
            shape,
            round_to(lo + (hi - lo) * r.f64(), page),
        );
    }

    // Filesystems: size (const), avail/free (slow wander), files_free.
    let mounts = [
        ("/dev/nvme0n1p1", "ext4", "/", 100.0 * GIB),
        ("/dev/nvme0n1p2", "ext4", "/var", 400.0 * GIB),
        ("tmpfs", "tmpfs", "/run", 1.6 * GIB),
    ];
    for (device, fstype, mountpoint, size) in mounts {
        let l = [
            ("device", device),
            ("fstype", fstype),
            ("mountpoint", mountpoint),
        ];
        let avail = round_to(size * (0.2 + 0.6 * r.f64()), page);
        push(
            out,
            h,
            b,
            "node_filesystem_size_bytes",
            &l,
            Shape::Const,
            size,
        );
        let g = Shape::Gauge {
            lo: 0.05 * size,
            hi: 0.95 * size,
            step: 0.0002,
            quantum: page,
        };
        push(out, h, b, "node_filesystem_avail_bytes", &l, g, avail);
        push(
            out,
            h,
            b,
            "node_filesystem_free_bytes",
            &l,
            g,
            avail + round_to(0.05 * size, page),
        );
        let files = Shape::Gauge {
            lo: 1e5,
            hi: 6.5e6,
            step: 0.00005,
            quantum: 1.0,
        };
        push(
            out,
            h,
            b,
            "node_filesystem_files_free",
            &l,
            files,
            6_000_000.0 - r.below(100_000) as f64,
        );
    }

    // Disks.
    for dev in ["nvme0n1", "nvme1n1"] {
        let l = [("device", dev)];
        let disk: [(&str, f64, f64); 5] = [
            ("read_bytes", 2.0e6, 512.0),
            ("written_bytes", 5.0e6, 512.0),
            ("reads_completed", 80.0, 1.0),
            ("writes_completed", 150.0, 1.0),
            ("io_time_seconds", 0.05, 0.001),
        ];
        for (name, rate, q) in disk {
            let per_sec = rate * busy;
            push(
                out,
                h,
                b,
                &format!("node_disk_{name}_total"),
                &l,
                Shape::Counter {
                    per_sec,
                    jitter: 0.9,
                    quantum: q,
                },
                round_to(uptime * per_sec, q),
            );
        }
    }

    // Network.
    for (dev, scale) in [("eth0", 1.0), ("eth1", 0.2), ("lo", 0.05)] {
        let l = [("device", dev)];
        let net: [(&str, f64); 6] = [
            ("receive_bytes", 3.0e6),
            ("transmit_bytes", 2.0e6),
            ("receive_packets", 3000.0),
            ("transmit_packets", 2500.0),
            ("receive_errs", 0.0),
            ("transmit_errs", 0.0),
        ];
        for (name, rate) in net {
            let per_sec = rate * scale * busy;
            push(
                out,
                h,
                b,
                &format!("node_network_{name}_total"),
                &l,
                Shape::Counter {
                    per_sec,
                    jitter: 0.8,
                    quantum: 1.0,
                },
                round_to(uptime * per_sec, 1.0),
            );
        }
    }

    // Load averages, process counts, kernel counters.
    let ncpu = cpus as f64;
    for (name, step) in [
        ("node_load1", 0.05),
        ("node_load5", 0.02),
        ("node_load15", 0.01),
    ] {
        let g = Shape::Gauge {
            lo: 0.0,
            hi: 2.0 * ncpu,
            step,
            quantum: 0.01,
        };
        push(out, h, b, name, &[], g, round_to(busy * ncpu * 0.4, 0.01));
    }
    for (name, rate) in [
        ("node_context_switches_total", 4000.0),
        ("node_intr_total", 3000.0),
        ("node_forks_total", 3.0),
    ] {
        let per_sec = rate * busy;
        let shape = Shape::Counter {
            per_sec,
            jitter: 0.5,
            quantum: 1.0,
        };
        push(out, h, b, name, &[], shape, round_to(uptime * per_sec, 1.0));
    }
    for (name, rate) in [
        ("node_vmstat_pgfault", 2000.0),
        ("node_vmstat_pgmajfault", 0.1),
        ("node_vmstat_pgpgin", 400.0),
        ("node_vmstat_pgpgout", 900.0),
    ] {
        let per_sec = rate * busy;
        let shape = Shape::Counter {
            per_sec,
            jitter: 0.7,
            quantum: 1.0,
        };
        push(out, h, b, name, &[], shape, round_to(uptime * per_sec, 1.0));
    }
    let small: [(&str, f64, f64, f64); 6] = [
        ("node_procs_running", 1.0, 2.0 * ncpu, 0.1),
        ("node_procs_blocked", 0.0, 3.0, 0.1),
        ("node_netstat_Tcp_CurrEstab", 10.0, 400.0, 0.02),
        ("node_sockstat_TCP_inuse", 10.0, 500.0, 0.02),
        ("node_filefd_allocated", 1000.0, 20000.0, 0.005),
        ("node_entropy_available_bits", 256.0, 4096.0, 0.01),
    ];
    for (name, lo, hi, step) in small {
        let g = Shape::Gauge {
            lo,
            hi,
            step,
            quantum: 1.0,
        };
        push(
            out,
            h,
            b,
            name,
            &[],
            g,
            round_to(lo + (hi - lo) * r.f64(), 1.0),
        );
    }
    push(
        out,
        h,
        b,
        "node_boot_time_seconds",
        &[],
        Shape::Const,
        1.7e9 - uptime,
    );
    push(out, h, b, "node_time_seconds", &[], Shape::Clock, 0.0);

    // What the scraper adds.
    push(out, h, b, "up", &[], Shape::Const, 1.0);
    let d = Shape::Gauge {
        lo: 0.005,
        hi: 0.08,
        step: 0.1,
        quantum: 0.0,
    };
    push(out, h, b, "scrape_duration_seconds", &[], d, 0.02);
    let n = (8 * cpus + 71) as f64;
    push(out, h, b, "scrape_samples_scraped", &[], Shape::Const, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_a_hundred_series_per_host_and_unique() {
        let f = Fleet::new(3, 4, 1, 15_000, 0, 2);
        assert_eq!(f.series.len(), 3 * (8 * 4 + 71));
        let mut keys: Vec<_> = f.series.iter().map(|s| s.labels.clone()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), f.series.len());
        for s in &f.series {
            assert_eq!(s.labels[0].0, "__name__");
            assert!(s.labels.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }

    #[test]
    fn counters_never_decrease_and_timestamps_increase() {
        let f = Fleet::new(2, 2, 7, 15_000, 1_000_000, 3);
        for i in 0..f.series.len() {
            let mut c = f.cursor(i);
            let mut prev = f64::MIN;
            for k in 0..200 {
                let v = c.next(f.timestamp(f.series[i].host, k));
                if let Shape::Counter { .. } = f.series[i].shape {
                    assert!(v >= prev);
                }
                prev = v;
                assert!(f.timestamp(f.series[i].host, k + 1) > f.timestamp(f.series[i].host, k));
            }
        }
    }

    /// Values quantized to a decimal step are the doubles an exporter's text parses to
    /// (`12.34`, never `12.340000000000002`).
    #[test]
    fn decimal_quanta_give_the_doubles_of_their_text() {
        let f = Fleet::new(2, 2, 3, 15_000, 1_000_000, 2);
        for i in 0..f.series.len() {
            let quantum = match f.series[i].shape {
                Shape::Counter { quantum, .. } | Shape::Gauge { quantum, .. } => quantum,
                _ => continue,
            };
            if !(quantum > 0.0 && quantum < 1.0) {
                continue;
            }
            let decimals = (-quantum.log10()).round() as usize;
            let mut c = f.cursor(i);
            for k in 0..100 {
                let v = c.next(f.timestamp(f.series[i].host, k));
                let text = format!("{v:.decimals$}");
                assert_eq!(text.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{v}");
            }
        }
    }
}
