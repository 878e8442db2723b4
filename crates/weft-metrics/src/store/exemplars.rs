//! Exemplars of one tenant in a bounded ring (oldest dropped first), as Prometheus keeps
//! them in its circular exemplar storage.

use std::collections::{BTreeMap, VecDeque};

use promql_parser::label::Matchers;
use weft_core::labels::Labels;

use crate::model::Exemplar;
use crate::promql::matches;

/// A bounded FIFO of `(series, exemplar)`.
pub(super) struct ExemplarRing {
    capacity: usize,
    items: VecDeque<(Labels, Exemplar)>,
}

impl ExemplarRing {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            items: VecDeque::new(),
        }
    }

    /// Adds exemplars of one series, skipping exact repeats of the series' newest one
    /// (senders resend the same exemplar with every sample until a new one is recorded).
    pub(super) fn push_all(&mut self, series: &Labels, exemplars: &[Exemplar]) {
        if self.capacity == 0 {
            return;
        }
        for e in exemplars {
            let repeat = self
                .items
                .iter()
                .rev()
                .find(|(l, _)| l == series)
                .is_some_and(|(_, last)| last == e);
            if repeat {
                continue;
            }
            if self.items.len() == self.capacity {
                self.items.pop_front();
            }
            self.items.push_back((series.clone(), e.clone()));
        }
    }

    /// Exemplars in `[start, end]` of series matching any selector, grouped by series
    /// (sorted by labels), each group ascending by time.
    pub(super) fn select(
        &self,
        selectors: &[Matchers],
        start: i64,
        end: i64,
    ) -> Vec<(Labels, Vec<Exemplar>)> {
        let mut out: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
        for (l, e) in &self.items {
            if e.t_ms < start || e.t_ms > end {
                continue;
            }
            if selectors.iter().any(|m| matches(m, l)) {
                out.entry(l.clone()).or_default().push(e.clone());
            }
        }
        out.into_iter()
            .map(|(l, mut es)| {
                es.sort_by_key(|e| e.t_ms);
                (l, es)
            })
            .collect()
    }
}
