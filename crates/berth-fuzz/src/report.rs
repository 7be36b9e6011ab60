//! The run's report: requests sent, answers by code per RPC, violations with the request
//! that caused each, crashes. Printed as a table; written as JSON on request.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// What kind of rule an answer or the host broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Internal or Unknown answered to hostile input.
    ForbiddenCode,
    /// Unimplemented from an RPC berth has built.
    Unimplemented,
    /// An answer outside the case's expected set (e.g. OK to input the issue says must be
    /// refused).
    WrongCode,
    /// A valid request the fuzzer relies on failed.
    ValidRefused,
    /// No answer in time without a short deadline.
    Hang,
    /// berthd dropped or reset the HTTP/2 connection under a call (every call in flight on
    /// it failed with a transport error, whatever its input).
    Connection,
    /// A file appeared outside the allowed dirs.
    Escape,
    /// Something of a pod or container was left after clean-up.
    Leftover,
    /// berthd died or stopped answering.
    Crash,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok();
        write!(f, "{}", s.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

/// One broken rule.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// The rule.
    pub kind: Kind,
    /// The RPC, or `host` for host checks.
    pub rpc: String,
    /// The answer's code, if an answer broke it.
    pub code: Option<String>,
    /// How the request was made (`corpus:…`, `mutate:…`).
    pub label: String,
    /// What happened: the status message, the file, the leftover.
    pub detail: String,
    /// The request that caused it (folded), if known.
    pub request: String,
}

/// The whole run's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Requests sent (all: valid, hostile, clean-up).
    pub requests: u64,
    /// Answers by code, per RPC.
    pub answers: BTreeMap<String, BTreeMap<String, u64>>,
    /// Every violation (the first [`Report::KEEP`]; `violations_total` counts all).
    pub violations: Vec<Violation>,
    /// All violations, kept or not.
    pub violations_total: u64,
    /// berthd crashes (death, or Version not answering).
    pub crashes: Vec<String>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Violations group by kind, RPC, code and label.
type GroupKey<'a> = (Kind, &'a str, Option<&'a str>, &'a str);

impl Report {
    /// How many violations are kept in full.
    pub const KEEP: usize = 5000;

    /// Counts one answer.
    pub fn answer(&mut self, rpc: &str, code: tonic::Code) {
        self.requests += 1;
        *self
            .answers
            .entry(rpc.to_owned())
            .or_default()
            .entry(format!("{code:?}"))
            .or_default() += 1;
    }

    /// Records a violation.
    pub fn violate(&mut self, v: Violation) {
        self.violations_total += 1;
        if self.violations.len() < Self::KEEP {
            self.violations.push(v);
        }
    }

    /// Whether the run found nothing.
    pub fn clean(&self) -> bool {
        self.violations_total == 0 && self.crashes.is_empty()
    }

    /// Violations grouped by (kind, RPC, code, label): count and first example.
    pub fn grouped(&self) -> Vec<(usize, &Violation)> {
        let mut groups: BTreeMap<GroupKey, (usize, &Violation)> = BTreeMap::new();
        for v in &self.violations {
            let label = if v.kind == Kind::Escape || v.kind == Kind::Leftover {
                v.kind_detail()
            } else {
                v.label.as_str()
            };
            groups
                .entry((v.kind, &v.rpc, v.code.as_deref(), label))
                .or_insert((0, v))
                .0 += 1;
        }
        let mut out: Vec<_> = groups.into_values().collect();
        out.sort_by_key(|(n, v)| (v.kind, std::cmp::Reverse(*n)));
        out
    }

    /// Counts by kind.
    pub fn by_kind(&self) -> BTreeMap<Kind, usize> {
        let mut m = BTreeMap::new();
        for v in &self.violations {
            *m.entry(v.kind).or_default() += 1;
        }
        m
    }
}

impl Violation {
    /// For grouping host findings: the first word of the detail (`mount`, `cgroup`, ...).
    fn kind_detail(&self) -> &str {
        self.detail.split_whitespace().next().unwrap_or("")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "berth-fuzz: seed {} · {} requests in {:.1} s · {} violations · {} crashes",
            self.seed,
            self.requests,
            self.seconds,
            self.violations_total,
            self.crashes.len()
        )?;
        writeln!(f)?;
        writeln!(f, "{:<26} {:>7}  answers by code", "RPC", "sent")?;
        writeln!(f, "{:-<26} {:->7}  {:-<40}", "", "", "")?;
        for (rpc, codes) in &self.answers {
            let sent: u64 = codes.values().sum();
            let codes: Vec<String> = codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
            writeln!(f, "{rpc:<26} {sent:>7}  {}", codes.join(", "))?;
        }
        let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
        for codes in self.answers.values() {
            for (c, n) in codes {
                *totals.entry(c).or_default() += n;
            }
        }
        let totals: Vec<String> = totals.iter().map(|(c, n)| format!("{c} {n}")).collect();
        writeln!(
            f,
            "{:<26} {:>7}  {}",
            "total",
            self.requests,
            totals.join(", ")
        )?;
        writeln!(f)?;
        for c in &self.crashes {
            writeln!(f, "CRASH: {c}")?;
        }
        if self.violations_total == 0 {
            return writeln!(f, "no violations");
        }
        let kinds: Vec<String> = self
            .by_kind()
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(f, "violations by kind: {}", kinds.join(", "))?;
        if self.violations_total as usize > self.violations.len() {
            writeln!(
                f,
                "(only the first {} of {} are kept)",
                self.violations.len(),
                self.violations_total
            )?;
        }
        writeln!(f)?;
        for (n, v) in self.grouped() {
            writeln!(
                f,
                "[{}] ×{n} {} {} ({})",
                v.kind,
                v.rpc,
                v.code.as_deref().unwrap_or("-"),
                v.label
            )?;
            writeln!(f, "    {}", crate::case::fold_runs(&v.detail))?;
            if !v.request.is_empty() {
                writeln!(f, "    request: {}", v.request)?;
            }
        }
        Ok(())
    }
}
