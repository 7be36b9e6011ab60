//! Keeping a process's resident memory to what it is using now. Shared by berthd (every few
//! seconds) and berth-monitor (once its container runs).
//!
//! A burst of work (a pull, fifty pods at once, a container's start-up) leaves two kinds of
//! pages resident that the process will not touch again soon: free heap that glibc keeps for
//! the next allocation, and pages of its own code and read-only data, mapped in when some
//! path first ran (the kernel maps up to 64 KiB around each page fault, so a few calls map
//! most of a binary). [`Trim::now`] hands both back: `malloc_trim` returns free heap to the
//! kernel, and `MADV_DONTNEED` drops the process's mappings of its read-only file pages. Those
//! pages stay in the page cache, unmodified (they were never written), so the next call that
//! needs one maps it again with a minor fault; nothing is read from disk and nothing can
//! change. Writable segments (data, RELRO, heap, stacks) are never touched.

use std::io;
use std::ops::Range;

/// The read-only file-backed ranges of the program and its shared libraries.
pub struct Trim {
    read_only: Vec<Range<usize>>,
}

/// What one [`Trim::now`] did.
#[derive(Debug, Default)]
pub struct Trimmed {
    /// Bytes of read-only file pages this process no longer maps.
    pub dropped: usize,
    /// The first `madvise` that failed, with its range (the others were still tried).
    pub failed: Option<(Range<usize>, io::Error)>,
}

impl Trim {
    /// Finds the ranges once: the loaded objects do not change after start-up (neither berthd
    /// nor the monitor calls `dlopen`).
    pub fn new() -> Self {
        Self {
            read_only: read_only_segments(),
        }
    }

    /// Returns free heap to the kernel and unmaps read-only file pages. Fails only when
    /// `/proc/self/pagemap` cannot be read (then the heap is trimmed, the code is not).
    pub fn now(&self) -> io::Result<Trimmed> {
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only releases memory the allocator holds free.
        unsafe {
            libc::malloc_trim(0);
        }
        let pagemap = std::fs::File::open("/proc/self/pagemap")?;
        let mut trimmed = Trimmed::default();
        for range in &self.read_only {
            for run in file_pages(&pagemap, range.clone()) {
                // SAFETY: the run lies in a read-only, private, file-backed mapping, and its
                // pages are the file's own (not copies someone wrote, such as a debugger's
                // breakpoint or a uprobe): dropping them loses nothing, as the next access
                // maps the same file page again.
                let dropped =
                    unsafe { libc::madvise(run.start as *mut _, run.len(), libc::MADV_DONTNEED) };
                if dropped == 0 {
                    trimmed.dropped += run.len();
                } else if trimmed.failed.is_none() {
                    trimmed.failed = Some((run, io::Error::last_os_error()));
                }
            }
        }
        Ok(trimmed)
    }
}

impl Default for Trim {
    fn default() -> Self {
        Self::new()
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf with a constant name.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

/// The runs of pages in `range` that are mapped and still the file's own, per
/// `/proc/self/pagemap` (bit 63: present; bit 61: a file page, not an anonymous copy).
fn file_pages(pagemap: &std::fs::File, range: Range<usize>) -> Vec<Range<usize>> {
    use std::os::unix::fs::FileExt;
    const PRESENT: u64 = 1 << 63;
    const FILE: u64 = 1 << 61;
    let page = page_size();
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
    let mut found = Found {
        objects: 0,
        ranges: Vec::new(),
        page: page_size(),
    };
    // SAFETY: the callback reads the `dl_phdr_info` the loader hands it, for the call's
    // duration only, and writes to the `Found` behind `data`.
    unsafe {
        libc::dl_iterate_phdr(Some(collect), (&mut found as *mut Found).cast());
    }
    found.ranges
}

/// What `collect` gathers over the loaded objects.
struct Found {
    /// Objects seen so far: the first is the program.
    objects: usize,
    ranges: Vec<Range<usize>>,
    page: usize,
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
        if let Some(pages) = whole_pages(segment, found.page) {
            found.ranges.push(pages);
        }
    }
    0
}

/// The pages lying wholly inside `range`, if any: a page shared with a neighbouring segment
/// is left alone.
fn whole_pages(range: Range<usize>, page: usize) -> Option<Range<usize>> {
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
        // This very function's code lies in one of them, or on a page it shares with the
        // neighbouring segment (left alone).
        let here = the_program_has_read_only_segments as *const () as usize;
        let page = page_size();
        assert!(
            ranges
                .iter()
                .any(|r| r.start <= here + page && here < r.end + page),
            "{here:#x} not in or next to {ranges:x?}"
        );
    }

    #[test]
    fn trimming_drops_code_and_keeps_code_and_data_working() {
        static TABLE: [u64; 4] = [1, 2, 3, 5];
        let heap: Vec<u64> = (0..100_000).collect();
        let trimmed = Trim::new().now().expect("pagemap is readable as root");
        assert!(trimmed.dropped > 0, "nothing dropped: {trimmed:?}");
        assert!(trimmed.failed.is_none(), "{trimmed:?}");
        assert_eq!(TABLE.iter().sum::<u64>(), 11);
        assert_eq!(heap.iter().sum::<u64>(), 4_999_950_000);
        assert_eq!(format!("{}", 42), "42");
    }

    #[test]
    fn only_whole_pages() {
        let page = page_size();
        assert_eq!(whole_pages(1..page, page), None);
        assert_eq!(whole_pages(1..3 * page + 1, page), Some(page..3 * page));
        assert_eq!(whole_pages(0..page, page), Some(0..page));
    }
}
