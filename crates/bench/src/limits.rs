//! The open-files limit (RLIMIT_NOFILE): raised to the hard limit, and checked before a run so
//! that a run the limit would cap is refused with the numbers instead of failing midway.

use crate::UsageError;

/// File descriptors a process needs beside its sockets (stdio, pipes, epoll, the runtime).
pub(crate) const SPARE_FDS: u64 = 64;

/// Raises the soft limit to the hard one; returns the soft limit now in force.
pub(crate) fn raise_nofile() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Refuses to put `per_process` sockets into processes allowed `limit` open files, saying how
/// many worker processes the run needs instead.
pub(crate) fn check_workers(total: usize, workers: usize, limit: u64) -> Result<(), UsageError> {
    let per_process = total.div_ceil(workers.max(1)) as u64;
    if per_process + SPARE_FDS <= limit {
        return Ok(());
    }
    let room = limit.saturating_sub(SPARE_FDS).max(1);
    let needed = (total as u64).div_ceil(room);
    let how = if workers == 0 {
        "--workers 0 keeps them all in this process".to_string()
    } else {
        format!("--workers {workers} puts {per_process} in each worker process")
    };
    Err(UsageError(format!(
        "{total} sockets do not fit: {how}, but the open-files limit (RLIMIT_NOFILE, soft raised to hard) is {limit}; use --workers {needed} or more"
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn says_how_many_workers_a_run_needs() {
        assert!(check_workers(19_000, 2, 20_000).is_ok());
        let e = check_workers(30_000, 1, 20_000).unwrap_err().0;
        assert!(e.contains("--workers 2"), "{e}");
        assert!(e.contains("20000"), "{e}");
        assert!(check_workers(100, 0, 1024).is_ok());
    }
}
