//! The write-side data model every metric receiver produces (remote write, OTLP, scraping)
//! and the WAL records carry: series with float and native histogram samples, exemplars and
//! metric metadata.

use weft_core::labels::Labels;

use crate::promql::FloatHistogram;

/// One series' samples of one write, ascending by time within the write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesWrite {
    pub labels: Labels,
    /// `(timestamp ms, value)`; NaN with [`crate::promql::STALE_NAN_BITS`] is a stale marker.
    pub samples: Vec<(i64, f64)>,
    /// `(timestamp ms, histogram)`, ascending; a timestamp is either in `samples` or here.
    /// Stale markers of histogram series are float stale NaNs in `samples`, as in Prometheus.
    pub histograms: Vec<(i64, FloatHistogram)>,
    pub exemplars: Vec<Exemplar>,
}

/// An exemplar attached to a series sample (typically a trace ID).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub t_ms: i64,
}

/// The metric type as Prometheus names it in `/api/v1/metadata`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    #[default]
    Unknown,
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
}

impl MetricType {
    /// Prometheus' spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Summary => "summary",
            Self::Info => "info",
            Self::StateSet => "stateset",
        }
    }

    /// From Prometheus' spelling (`untyped` reads as unknown, as Prometheus does).
    pub fn parse(s: &str) -> Self {
        match s {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "gaugehistogram" => Self::GaugeHistogram,
            "summary" => Self::Summary,
            "info" => Self::Info,
            "stateset" => Self::StateSet,
            _ => Self::Unknown,
        }
    }

    /// Stable one-byte code for the WAL.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// From the remote-write protobuf enum (`MetricMetadata.MetricType`), whose numbers
    /// [`MetricType::code`] shares; unknown numbers read as [`MetricType::Unknown`].
    pub fn from_wire(v: i32) -> Self {
        u8::try_from(v).map_or(Self::Unknown, Self::from_code)
    }

    /// Inverse of [`MetricType::code`]; unknown codes read as [`MetricType::Unknown`].
    pub fn from_code(c: u8) -> Self {
        match c {
            1 => Self::Counter,
            2 => Self::Gauge,
            3 => Self::Histogram,
            4 => Self::GaugeHistogram,
            5 => Self::Summary,
            6 => Self::Info,
            7 => Self::StateSet,
            _ => Self::Unknown,
        }
    }
}

/// Type, help and unit of one metric family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Metadata {
    pub metric: String,
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
}

/// Everything one request writes for one tenant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricWrite {
    pub series: Vec<SeriesWrite>,
    pub metadata: Vec<Metadata>,
}

impl MetricWrite {
    /// Number of float samples.
    pub fn sample_count(&self) -> u64 {
        self.series.iter().map(|s| s.samples.len() as u64).sum()
    }

    /// Number of native histogram samples.
    pub fn histogram_count(&self) -> u64 {
        self.series.iter().map(|s| s.histograms.len() as u64).sum()
    }

    /// Number of exemplars.
    pub fn exemplar_count(&self) -> u64 {
        self.series.iter().map(|s| s.exemplars.len() as u64).sum()
    }

    /// True when there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.metadata.is_empty()
            && self
                .series
                .iter()
                .all(|s| s.samples.is_empty() && s.histograms.is_empty() && s.exemplars.is_empty())
    }
}
