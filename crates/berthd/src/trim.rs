//! Keeping berthd's resident memory to what it is using now: every [`PERIOD`], `berth_trim`
//! returns free heap to the kernel and drops berthd's mappings of its read-only code pages,
//! which a burst of work (a pull, a recovery, fifty pods at once) left resident. See
//! `berth-trim` for why that loses nothing.

use std::time::Duration;

use berth_trim::Trim;
use tokio_util::sync::CancellationToken;

/// How often berthd trims: often enough that an idle daemon is small a few seconds after a
/// burst, seldom enough that re-mapping the pages a busy daemon keeps using costs nothing
/// measurable (a few hundred minor faults per period).
pub const PERIOD: Duration = Duration::from_secs(10);

/// Trims every [`PERIOD`] until `shutdown`.
pub async fn every_period(shutdown: CancellationToken) {
    // The loaded objects do not change after start-up (berthd does not `dlopen`).
    let trim = Trim::new();
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => now(&trim),
            () = shutdown.cancelled() => return,
        }
    }
}

fn now(trim: &Trim) {
    match trim.now() {
        Err(e) => tracing::debug!(error = %e, "cannot read the page map; not trimming code"),
        Ok(trimmed) => {
            if let Some((range, e)) = trimmed.failed {
                tracing::debug!(error = %e, ?range, "cannot drop read-only pages");
            }
        }
    }
}
