//! Going idle. Between berthd's requests a monitor only waits (for its container's exit, its
//! output, berthd and attachers), and nothing in it wakes on a timer but a rare backstop
//! (`reaper`). So once it has been quiet for [`QUIET`] after any activity (a request answered,
//! a wait begun, a runtime command or an orphan ended), the reaper hands back the heap it
//! freed and the code pages it ran (arguments, the runtime's commands, JSON, thread start-up)
//! with `berth_trim`: each container's monitor keeps resident only its own few pages.
//! Whatever runs later maps its code again from the page cache with a minor fault.
//!
//! The quiet period matters: the kernel maps code in 64 KiB windows around each fault, so a
//! trim followed by more work (the rest of a request, a thread ending) maps most of it back.
//! The reaper, which trims, is the last thread to run before the monitor sleeps.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use berth_trim::Trim;

use crate::sys;

/// How long the monitor is quiet before it trims.
pub const QUIET: Duration = Duration::from_millis(250);

/// Activity news for the reaper: an eventfd that any thread writes to when it has done some
/// work and the reaper polls. Without one (eventfd failed) the monitor only trims after the
/// reaper's own wake-ups.
pub struct Idle {
    news: Option<OwnedFd>,
    /// What a trim drops, found once (the monitor loads no library later).
    trim: Trim,
}

impl Idle {
    pub fn new() -> Self {
        Self {
            news: sys::eventfd().ok(),
            trim: Trim::new(),
        }
    }

    /// Says that the monitor was busy just now: it trims once quiet again.
    pub fn busy(&self) {
        if let Some(news) = &self.news {
            sys::eventfd_add(news.as_fd());
        }
    }

    /// Readable after [`Idle::busy`]; [`sys::drain_events`] consumes the news.
    pub fn news(&self) -> Option<BorrowedFd<'_>> {
        self.news.as_ref().map(AsFd::as_fd)
    }

    /// Trims now. Failures change nothing but the figure, and the monitor has no log of its
    /// own to report them to.
    pub fn trim(&self) {
        let _ = self.trim.now();
    }
}
