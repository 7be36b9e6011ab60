//! Samples and their summaries.

use std::collections::BTreeMap;

use serde::Serialize;

/// The samples of one metric on one runtime.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    /// The value at quantile `q` (nearest rank); NaN when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    /// The median.
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// The upper of the two middle values for an even count (the median otherwise): what
    /// the berth-alone benchmarks report, so their figures stay comparable with the earlier
    /// ones (see `crate::solo`).
    pub fn upper_median(&self) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    }

    /// The 90th percentile.
    pub fn p90(&self) -> f64 {
        self.quantile(0.9)
    }
}

/// Every sample: scenario → metric → runtime index → samples. Ordered for a stable table.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// Scenario name to its metrics.
    pub scenarios: BTreeMap<String, BTreeMap<String, Vec<Samples>>>,
    /// Scenarios in the order they ran.
    pub order: Vec<String>,
}

impl Results {
    /// Records `value` of `metric` for runtime `runtime` (of `runtimes`).
    pub fn add(
        &mut self,
        scenario: &str,
        metric: &str,
        runtime: usize,
        runtimes: usize,
        value: f64,
    ) {
        if !self.order.iter().any(|s| s == scenario) {
            self.order.push(scenario.to_owned());
        }
        let metrics = self.scenarios.entry(scenario.to_owned()).or_default();
        let per_runtime = metrics
            .entry(metric.to_owned())
            .or_insert_with(|| vec![Samples::default(); runtimes]);
        per_runtime[runtime].0.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let s = Samples((1..=10).map(f64::from).collect());
        assert_eq!(s.median(), 5.0);
        assert_eq!(s.p90(), 9.0);
        assert!(Samples::default().median().is_nan());
        assert_eq!(s.upper_median(), 6.0);
        assert_eq!(Samples(vec![3.0, 1.0, 2.0]).upper_median(), 2.0);
        assert!(Samples::default().upper_median().is_nan());
        let mut r = Results::default();
        r.add("pod", "Run", 1, 2, 3.0);
        assert_eq!(r.scenarios["pod"]["Run"][1].0, vec![3.0]);
        assert!(r.scenarios["pod"]["Run"][0].0.is_empty());
    }
}
