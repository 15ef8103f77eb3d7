//! Prometheus text format: the series of the operator's /metrics and of the API
//! servers' request counters, and sums over them.

pub(crate) struct Prom(pub(crate) Vec<(String, String, f64)>);

impl Prom {
    pub(crate) fn parse(text: &str) -> Prom {
        Prom(
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    let value: f64 = value.parse().ok()?;
                    let (name, labels) = match series.split_once('{') {
                        Some((n, rest)) => (n, rest.trim_end_matches('}')),
                        None => (series, ""),
                    };
                    Some((name.to_string(), labels.to_string(), value))
                })
                .collect(),
        )
    }

    /// Sum of a metric's series whose labels include every `(name, value)`.
    pub(crate) fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
            .map(|(_, _, v)| v)
            .sum()
    }
}
