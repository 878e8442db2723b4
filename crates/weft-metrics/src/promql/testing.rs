//! Adapter from the engine to the `promqltest` conformance runner
//! ([`crate::promqltest::compare::Engine`]).

use crate::promqltest::compare::{Engine, QueryOutcome, QueryValue, Sample, SampleValue, Series};
use crate::promqltest::{Load, PointValue};

use super::eval::{Evaluator, Value};
use super::{MemStorage, DEFAULT_LOOKBACK_MS, STALE_NAN_BITS};

/// A [`MemStorage`]-backed engine for conformance tests. Native histogram points are stored
/// as staleness markers (floats only for now).
#[derive(Debug)]
pub struct TestEngine {
    pub storage: MemStorage,
    pub lookback_ms: i64,
}

impl Default for TestEngine {
    fn default() -> Self {
        Self {
            storage: MemStorage::new(),
            lookback_ms: DEFAULT_LOOKBACK_MS,
        }
    }
}

impl TestEngine {
    pub fn new() -> Self {
        Self::default()
    }

    fn evaluator(&self) -> Evaluator<'_> {
        let mut ev = Evaluator::new(&self.storage);
        ev.lookback_ms = self.lookback_ms;
        ev
    }
}

fn outcome(value: QueryValue, ev: Evaluator<'_>) -> QueryOutcome {
    QueryOutcome {
        value,
        warnings: ev.warnings,
        infos: ev.infos,
    }
}

impl Engine for TestEngine {
    fn load(&mut self, load: &Load) -> Result<(), String> {
        for s in &load.series {
            for (i, p) in s.points.iter().enumerate() {
                let t = i as i64 * load.interval_ms;
                match p {
                    Some(PointValue::Float(v)) => self.storage.append(s.labels.clone(), t, *v),
                    // Native histograms are not supported yet; a histogram point is stored as
                    // a staleness marker so that float selectors do not look past it.
                    Some(PointValue::Stale) | Some(PointValue::Histogram(_)) => self
                        .storage
                        .append(s.labels.clone(), t, f64::from_bits(STALE_NAN_BITS)),
                    None => {}
                }
            }
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.storage.clear();
    }

    fn instant(&mut self, expr: &str, at_ms: i64) -> Result<QueryOutcome, String> {
        let q = super::parse_query(expr, 0, 0)?;
        let mut ev = self.evaluator();
        ev.prepare(&q)?;
        let value = match ev.instant(&q.expr, at_ms)? {
            Value::Scalar(v) => QueryValue::Scalar(v),
            Value::String(s) => QueryValue::String(s),
            Value::Vector(v) => QueryValue::Vector(
                v.into_iter()
                    .map(|s| Sample {
                        labels: s.labels,
                        value: SampleValue::Float(s.f),
                    })
                    .collect(),
            ),
            Value::Matrix(m) => QueryValue::Matrix(
                m.into_iter()
                    .map(|s| Series {
                        labels: s.labels,
                        floats: s.points,
                        histograms: Vec::new(),
                    })
                    .collect(),
            ),
        };
        Ok(outcome(value, ev))
    }

    fn range(
        &mut self,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryOutcome, String> {
        let q = super::parse_query(expr, step_ms, end_ms - start_ms)?;
        let mut ev = self.evaluator();
        ev.prepare(&q)?;
        let m = ev.range(&q.expr, start_ms, end_ms, step_ms)?;
        let value = QueryValue::Matrix(
            m.into_iter()
                .map(|s| Series {
                    labels: s.labels,
                    floats: s.points,
                    histograms: Vec::new(),
                })
                .collect(),
        );
        Ok(outcome(value, ev))
    }
}
