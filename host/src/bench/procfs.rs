//! The server's resident memory and CPU time, read from `/proc/PID`.

use std::path::PathBuf;

/// One reading of a process's memory and CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Resident set size (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// User plus system CPU time, milliseconds.
    pub cpu_ms: u64,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`.
///
/// # Errors
/// A text naming the file that could not be read or parsed.
pub fn usage(pid: u32) -> Result<Usage, String> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let status = std::fs::read_to_string(dir.join("status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let stat =
        std::fs::read_to_string(dir.join("stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    let rss_kib = parse_rss(&status).ok_or_else(|| format!("/proc/{pid}/status: no VmRSS"))?;
    let ticks = parse_cpu_ticks(&stat).ok_or_else(|| format!("/proc/{pid}/stat: unreadable"))?;
    Ok(Usage {
        rss_kib,
        cpu_ms: ticks * 1000 / clock_ticks_per_second(),
    })
}

/// `VmRSS:  1234 kB` -> 1234.
fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime (fields 14 and 15) in clock ticks. The command name (field
/// 2) may hold spaces and parentheses, so fields are counted after the last
/// `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The kernel's `USER_HZ`, the unit of `/proc/PID/stat` times.
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_and_cpu_ticks_are_read_from_proc_text() {
        assert_eq!(parse_rss("Name:\tx\nVmRSS:\t  2048 kB\n"), Some(2048));
        assert_eq!(parse_rss("Name:\tx\n"), None);
        let stat = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn this_process_can_be_measured() {
        let u = usage(std::process::id()).expect("own /proc entry");
        assert!(u.rss_kib > 0);
    }
}
