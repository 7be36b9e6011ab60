//! berth's targets against a reference runtime (the second socket), checked on the figures of
//! one run: each target's figure, what it is compared with, and whether it was met.

use crate::stats::Results;

/// How a target reads its figure.
enum Rule {
    /// A's median over B's median is at most this.
    RatioAtMost(f64),
    /// A's median over B's median is at least this.
    RatioAtLeast(f64),
    /// A's median is below this absolute value.
    Below(f64),
}

struct Goal {
    name: &'static str,
    scenario: &'static str,
    metric: &'static str,
    rule: Rule,
}

const GOALS: [Goal; 14] = [
    Goal {
        name: "Cold start: at most 0.5× the reference",
        scenario: "cold-start",
        metric: "pod and container up",
        rule: Rule::RatioAtMost(0.5),
    },
    Goal {
        name: "RunPodSandbox: at most 0.3× the reference",
        scenario: "pod",
        metric: "RunPodSandbox",
        rule: Rule::RatioAtMost(0.3),
    },
    Goal {
        name: "StopPodSandbox: at most 0.5× the reference",
        scenario: "pod",
        metric: "StopPodSandbox",
        rule: Rule::RatioAtMost(0.5),
    },
    Goal {
        name: "Exec round trip: at most 0.5× the reference",
        scenario: "streaming",
        metric: "exec round trip (true)",
        rule: Rule::RatioAtMost(0.5),
    },
    Goal {
        name: "StopContainer returns within 10 ms of the exit",
        scenario: "stop-latency",
        metric: "return after the exit",
        rule: Rule::Below(10.0),
    },
    Goal {
        name: "Daemon RSS idle under 10 MiB, after a pull and with 50 pods",
        scenario: "memory",
        metric: "daemon RSS idle, 50 pods (MiB)",
        rule: Rule::Below(10.0),
    },
    Goal {
        name: "Helper RSS under 1 MiB per container",
        scenario: "memory",
        metric: "helper RSS per pod, 10 pods (KiB)",
        rule: Rule::Below(1024.0),
    },
    Goal {
        name: "Helper PSS under 1 MiB per container",
        scenario: "memory",
        metric: "helper PSS per pod, 10 pods (KiB)",
        rule: Rule::Below(1024.0),
    },
    Goal {
        name: "Helper PSS at most 300 KiB per pod",
        scenario: "memory",
        metric: "helper PSS per pod, 10 pods (KiB)",
        rule: Rule::Below(300.0),
    },
    Goal {
        name: "Helper private memory at most 256 KiB per pod",
        scenario: "memory",
        metric: "helper private memory per pod, 50 pods (KiB)",
        rule: Rule::Below(256.0),
    },
    Goal {
        name: "Throughput: at least 2× the reference's pods per second",
        scenario: "throughput",
        metric: "pods per second",
        rule: Rule::RatioAtLeast(2.0),
    },
    Goal {
        name: "ListContainerStats of 100 running within 5 ms",
        scenario: "status-list",
        metric: "ListContainerStats (100 running)",
        rule: Rule::Below(5.0),
    },
    Goal {
        name: "ListContainerStats: at most 0.5× the reference",
        scenario: "status-list",
        metric: "ListContainerStats (100 running)",
        rule: Rule::RatioAtMost(0.5),
    },
    Goal {
        name: "Under 1% of a core in the kubelet's stats loop",
        scenario: "status-list",
        metric: "CPU in the kubelet's stats loop, 100 running (% of a core)",
        rule: Rule::Below(1.0),
    },
];

/// The targets as a Markdown table; empty when fewer than two runtimes ran.
pub fn table(results: &Results, runtimes: usize) -> String {
    if runtimes < 2 {
        return String::new();
    }
    let mut out = String::from(
        "\n## Targets (A against B)\n\n| target | A | B | A/B | met |\n|---|---:|---:|---:|:---:|\n",
    );
    for goal in &GOALS {
        let Some(samples) = results
            .scenarios
            .get(goal.scenario)
            .and_then(|m| m.get(goal.metric))
        else {
            continue;
        };
        let (a, b) = (samples[0].median(), samples[1].median());
        let ratio = a / b;
        let met = match goal.rule {
            Rule::RatioAtMost(r) => ratio <= r,
            Rule::RatioAtLeast(r) => ratio >= r,
            Rule::Below(v) => a < v,
        };
        let verdict = if a.is_nan() {
            "-"
        } else if met {
            "yes"
        } else {
            "no"
        };
        out += &format!(
            "| {} ({}) | {} | {} | {} | {verdict} |\n",
            goal.name,
            goal.metric,
            crate::compare::fmt(a),
            crate::compare::fmt(b),
            if ratio.is_finite() {
                format!("{ratio:.2}")
            } else {
                "-".into()
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_compare_medians() {
        let mut r = Results::default();
        for (rt, v) in [(0, 10.0), (1, 40.0)] {
            r.add("cold-start", "pod and container up", rt, 2, v);
        }
        for (rt, v) in [(0, 12.0), (1, 3.0)] {
            r.add("stop-latency", "return after the exit", rt, 2, v);
        }
        let t = table(&r, 2);
        assert!(t.contains("| Cold start: at most 0.5× the reference (pod and container up) | 10.0 | 40.0 | 0.25 | yes |"), "{t}");
        assert!(
            t.contains("(return after the exit) | 12.0 | 3.0 | 4.00 | no |"),
            "{t}"
        );
        assert!(!t.contains("Throughput"));
        assert!(table(&r, 1).is_empty());
    }
}
