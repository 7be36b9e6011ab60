//! The scenarios. Each round of a scenario runs on one runtime and returns named figures;
//! `main` alternates the runtimes round by round (A B A B), so drift in the machine's load
//! touches both alike.

pub mod cold_start;
pub mod container;
pub mod floor;
pub mod memory;
pub mod pod;
pub mod status_list;
pub mod stop_latency;
pub mod streaming;
pub mod throughput;

use std::time::Instant;

/// Named figures of one round: milliseconds unless the name says otherwise.
pub type Figures = Vec<(&'static str, f64)>;

/// Milliseconds since `t`.
pub fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A script that exits at once on SIGTERM: `wait` is interrupted by the trap.
pub const TERM_RESPONSIVE: &str = "trap 'exit 0' TERM; sleep 1000000 & wait";
