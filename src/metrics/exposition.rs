//! The two exposition formats a scraper may ask for. prometheus-client writes OpenMetrics; a
//! scraper that accepts only Prometheus' classic text (`text/plain; version=0.0.4`) gets the same
//! families rewritten into it, since that format names a counter's `# HELP`/`# TYPE` after its
//! `_total` samples and has no `# UNIT` or `# EOF` lines.

/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of Prometheus' classic text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which format to answer a scrape in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0, what Prometheus asks for first.
    OpenMetrics,
    /// Prometheus' text format 0.0.4.
    PrometheusText,
}

impl Exposition {
    /// The format for an `Accept` header: OpenMetrics when it asks for it (any
    /// `application/openmetrics-text` entry without `q=0`, as Prometheus sends), the classic
    /// text otherwise, as Go's `expfmt.Negotiate` and Python's `choose_encoder` answer.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let asks_for_openmetrics = accept.unwrap_or("").split(',').any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or("");
            let refused = parts.any(|param| {
                let (name, value) = param.split_once('=').unwrap_or((param, ""));
                name.trim().eq_ignore_ascii_case("q") && value.trim().parse::<f32>() == Ok(0.0)
            });
            media_type.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
        match asks_for_openmetrics {
            true => Self::OpenMetrics,
            false => Self::PrometheusText,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS,
            Self::PrometheusText => PROMETHEUS_TEXT,
        }
    }
}

/// OpenMetrics text as prometheus-client writes it, in the classic text format: a counter's
/// `# HELP` and `# TYPE` name its `_total` samples, `# UNIT` and `# EOF` lines go.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        text.push_str(&counter_named_for_samples(line, &counters).unwrap_or_else(|| line.into()));
        text.push('\n');
    }
    text
}

/// A counter's `# HELP` or `# TYPE` line with `_total` added to its family's name.
fn counter_named_for_samples(line: &str, counters: &[&str]) -> Option<String> {
    let (marker, rest) = ["# HELP ", "# TYPE "]
        .iter()
        .find_map(|marker| Some((*marker, line.strip_prefix(marker)?)))?;
    let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    counters.contains(&name).then(|| {
        format!("{marker}{name}_total {tail}")
            .trim_end()
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked_for_as_prometheus_asks_and_the_classic_text_otherwise() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let check = |accept: Option<&str>, expected: Exposition| {
            assert_eq!(Exposition::negotiate(accept), expected, "{accept:?}");
        };
        check(Some(prometheus), Exposition::OpenMetrics);
        check(
            Some("Application/OpenMetrics-Text"),
            Exposition::OpenMetrics,
        );
        check(None, Exposition::PrometheusText);
        check(Some("*/*"), Exposition::PrometheusText);
        check(Some("text/plain;version=0.0.4"), Exposition::PrometheusText);
        let refused = "application/openmetrics-text; q=0, text/plain";
        check(Some(refused), Exposition::PrometheusText);
    }

    #[test]
    fn counters_are_named_after_their_samples_and_openmetrics_only_lines_go() {
        let openmetrics = "# HELP requests Requests answered.\n\
            # TYPE requests counter\n\
            requests_total{outcome=\"ok\"} 3\n\
            # HELP latency_seconds How long.\n\
            # TYPE latency_seconds histogram\n\
            # UNIT latency_seconds seconds\n\
            latency_seconds_sum 0.5\n\
            latency_seconds_count 1\n\
            latency_seconds_bucket{le=\"+Inf\"} 1\n\
            # HELP ready Ready.\n\
            # TYPE ready gauge\n\
            ready 1\n\
            # EOF\n";
        let expected = "# HELP requests_total Requests answered.\n\
            # TYPE requests_total counter\n\
            requests_total{outcome=\"ok\"} 3\n\
            # HELP latency_seconds How long.\n\
            # TYPE latency_seconds histogram\n\
            latency_seconds_sum 0.5\n\
            latency_seconds_count 1\n\
            latency_seconds_bucket{le=\"+Inf\"} 1\n\
            # HELP ready Ready.\n\
            # TYPE ready gauge\n\
            ready 1\n";
        assert_eq!(to_prometheus_text(openmetrics), expected);
    }
}
