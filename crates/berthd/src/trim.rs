//! Keeping berthd's resident memory to what it is using now.
//!
//! A burst of work (a pull, a recovery, fifty pods at once) leaves two kinds of pages resident
//! that berthd will not touch again soon: free heap that glibc keeps for the next allocation,
//! and pages of its own code and read-only data, mapped in when some path first ran (the
//! kernel maps up to 64 KiB around each page fault, so a few calls map most of an 18 MB
//! binary). Every [`PERIOD`], [`Trim`] hands both back: `malloc_trim` returns free heap to the
//! kernel, and `MADV_DONTNEED` drops berthd's mappings of its read-only file pages. Those
//! pages stay in the page cache, unmodified (they were never written), so the next call that
//! needs one maps it again with a minor fault; nothing is read from disk and nothing can
//! change. Writable segments (data, RELRO, heap, stacks) are never touched.

use std::ops::Range;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often berthd trims: often enough that an idle daemon is small a few seconds after a
/// burst, seldom enough that re-mapping the pages a busy daemon keeps using costs nothing
/// measurable (a few hundred minor faults per period).
pub const PERIOD: Duration = Duration::from_secs(10);

/// The read-only file-backed ranges of berthd's own binary and its shared libraries.
pub struct Trim {
    read_only: Vec<Range<usize>>,
}

impl Trim {
    /// Finds the ranges once: the loaded objects do not change after start-up (berthd does
    /// not `dlopen`).
    pub fn new() -> Self {
        Self {
            read_only: read_only_segments(),
        }
    }

    /// Trims every [`PERIOD`] until `shutdown`.
    pub async fn every_period(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => self.now(),
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Returns free heap to the kernel and unmaps read-only file pages.
    pub fn now(&self) {
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only releases memory the allocator holds free.
        unsafe {
            libc::malloc_trim(0);
        }
        let pagemap = match std::fs::File::open("/proc/self/pagemap") {
            Ok(file) => file,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the page map; not trimming code");
                return;
            }
        };
        for range in &self.read_only {
            for run in file_pages(&pagemap, range.clone()) {
                // SAFETY: the run lies in a read-only, private, file-backed mapping, and its
                // pages are the file's own (not copies someone wrote, such as a debugger's
                // breakpoint or a uprobe): dropping them loses nothing, as the next access
                // maps the same file page again.
                let dropped = unsafe {
                    rustix::mm::madvise(
                        run.start as *mut std::ffi::c_void,
                        run.len(),
                        rustix::mm::Advice::LinuxDontNeed,
                    )
                };
                if let Err(e) = dropped {
                    tracing::debug!(error = %e, ?run, "cannot drop read-only pages");
                }
            }
        }
    }
}

/// The runs of pages in `range` that are mapped and still the file's own, per
/// `/proc/self/pagemap` (bit 63: present; bit 61: a file page, not an anonymous copy).
fn file_pages(pagemap: &std::fs::File, range: Range<usize>) -> Vec<Range<usize>> {
    use std::os::unix::fs::FileExt;
    const PRESENT: u64 = 1 << 63;
    const FILE: u64 = 1 << 61;
    let page = rustix::param::page_size();
    let count = range.len() / page;
    let mut entries = vec![0u8; count * 8];
    if pagemap
        .read_exact_at(&mut entries, (range.start / page * 8) as u64)
        .is_err()
    {
        return Vec::new();
    }
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (i, entry) in entries.chunks_exact(8).enumerate() {
        let bits = u64::from_ne_bytes(entry.try_into().unwrap_or_default());
        if bits & (PRESENT | FILE) != PRESENT | FILE {
            continue;
        }
        let start = range.start + i * page;
        match runs.last_mut() {
            Some(run) if run.end == start => run.end += page,
            _ => runs.push(start..start + page),
        }
    }
    runs
}

/// Whole pages of every `PT_LOAD` segment without write permission, of the program and each
/// shared object loaded from a file (not the vDSO), minus any `PT_GNU_RELRO` range: the
/// dynamic linker wrote relocations there before making it read-only, so those pages differ
/// from the file's.
fn read_only_segments() -> Vec<Range<usize>> {
    let mut found = Found::default();
    // SAFETY: the callback reads the `dl_phdr_info` the loader hands it, for the call's
    // duration only, and writes to the `Found` behind `data`.
    unsafe {
        libc::dl_iterate_phdr(Some(collect), (&mut found as *mut Found).cast());
    }
    found.ranges
}

/// What `collect` gathers over the loaded objects.
#[derive(Default)]
struct Found {
    /// Objects seen so far: the first is the program.
    objects: usize,
    ranges: Vec<Range<usize>>,
}

unsafe extern "C" fn collect(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid `info` and our `data` (see `read_only_segments`).
    let (info, found) = unsafe { (&*info, &mut *data.cast::<Found>()) };
    found.objects += 1;
    // The program comes first; shared objects are named by their path; the vDSO is not.
    let from_file = found.objects == 1
        || (!info.dlpi_name.is_null()
            // SAFETY: a non-null dlpi_name is a NUL-terminated string.
            && unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }
                .to_bytes()
                .starts_with(b"/"));
    if !from_file || info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    let base = info.dlpi_addr as usize;
    let span = |h: &libc::Elf64_Phdr| {
        let start = base + h.p_vaddr as usize;
        start..start + h.p_memsz as usize
    };
    let relro: Vec<Range<usize>> = headers
        .iter()
        .filter(|h| h.p_type == libc::PT_GNU_RELRO)
        .map(span)
        .collect();
    for header in headers {
        if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_W != 0 {
            continue;
        }
        let segment = span(header);
        if relro
            .iter()
            .any(|r| r.start < segment.end && segment.start < r.end)
        {
            continue;
        }
        if let Some(pages) = whole_pages(segment) {
            found.ranges.push(pages);
        }
    }
    0
}

/// The pages lying wholly inside `range`, if any: a page shared with a neighbouring segment
/// is left alone.
fn whole_pages(range: Range<usize>) -> Option<Range<usize>> {
    let page = rustix::param::page_size();
    let start = range.start.div_ceil(page) * page;
    let end = range.end / page * page;
    (start < end).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_has_read_only_segments() {
        let ranges = read_only_segments();
        assert!(!ranges.is_empty(), "no read-only segment found");
        // This very function's code lies in one of them.
        let here = the_program_has_read_only_segments as *const () as usize;
        assert!(
            ranges.iter().any(|r| r.contains(&here)),
            "{here:#x} not in {ranges:x?}"
        );
    }

    #[test]
    fn trimming_keeps_code_and_data_working() {
        static TABLE: [u64; 4] = [1, 2, 3, 5];
        let heap: Vec<u64> = (0..100_000).collect();
        Trim::new().now();
        assert_eq!(TABLE.iter().sum::<u64>(), 11);
        assert_eq!(heap.iter().sum::<u64>(), 4_999_950_000);
        assert_eq!(format!("{}", 42), "42");
    }

    #[test]
    fn only_whole_pages() {
        let page = rustix::param::page_size();
        assert_eq!(whole_pages(1..page), None);
        assert_eq!(whole_pages(1..3 * page + 1), Some(page..3 * page));
        assert_eq!(whole_pages(0..page), Some(0..page));
    }
}
