//! Readings of a running process from `/proc`: memory (current and peak resident set) and CPU
//! time, its descendants, and their memory.
//!
//! Every figure is the process's own: `VmHWM`/`VmRSS` from `/proc/<pid>/status` and
//! `utime + stime` from `/proc/<pid>/stat` exclude children (those are separate processes, and
//! `cutime`/`cstime` are not read), which is how a proxy's own cost is told apart from the MCP
//! servers it spawns.

use std::collections::HashMap;
use std::fs;
use std::io;

/// Clock ticks per second of `/proc/<pid>/stat` times. Linux reports times to user space in
/// `USER_HZ`, which is 100 on every architecture this project runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// One memory reading of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Resident set now (`VmRSS`).
    pub rss_kb: u64,
    /// Peak resident set over the process's life (`VmHWM`).
    pub peak_kb: u64,
    /// Anonymous (private heap and stack) part of the resident set now (`RssAnon`); the rest
    /// is mostly the executable's own pages, shared with the page cache.
    pub anon_kb: u64,
}

/// Reads `VmRSS`, `VmHWM` and `RssAnon` of `pid`.
pub fn memory(pid: u32) -> io::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mut memory = Memory::default();
    for line in status.lines() {
        if let Some(value) = line.strip_prefix("VmRSS:") {
            memory.rss_kb = kb(value);
        } else if let Some(value) = line.strip_prefix("VmHWM:") {
            memory.peak_kb = kb(value);
        } else if let Some(value) = line.strip_prefix("RssAnon:") {
            memory.anon_kb = kb(value);
        }
    }
    Ok(memory)
}

/// `"   1234 kB"` → 1234.
fn kb(value: &str) -> u64 {
    value
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of `pid` itself (not its children), in seconds.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields = after_comm(&stat)?;
    // Fields after `(comm)` start at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = field(&fields, 11)?;
    let stime: u64 = field(&fields, 12)?;
    Ok((utime + stime) as f64 / CLOCK_TICKS_PER_SECOND)
}

/// The CPU time of the calling process (the load generator), in seconds.
pub fn own_cpu_seconds() -> io::Result<f64> {
    cpu_seconds(std::process::id())
}

/// The whitespace-separated fields after the `(comm)` of a `stat` line (comm may hold spaces
/// and parentheses, so the last `)` is the delimiter).
fn after_comm(stat: &str) -> io::Result<Vec<&str>> {
    let end = stat
        .rfind(')')
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ')' in stat"))?;
    Ok(stat[end + 1..].split_whitespace().collect())
}

fn field<T: std::str::FromStr>(fields: &[&str], index: usize) -> io::Result<T> {
    fields
        .get(index)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short or invalid stat line"))
}

/// Every live descendant of `pid` (children, grandchildren, ...).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Field 4 (index 1 after comm) is the parent pid.
        if let Ok(parent) = after_comm(&stat).and_then(|f| field::<u32>(&f, 1)) {
            children.entry(parent).or_default().push(child);
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        if let Some(kids) = children.get(&p) {
            out.extend_from_slice(kids);
            stack.extend_from_slice(kids);
        }
    }
    out
}

/// The memory of a set of processes (a server and its workers, like nginx's), summed: current
/// resident sets, and peaks (an upper bound of the set's peak, as they need not coincide).
pub fn memory_sum(pids: &[u32]) -> io::Result<Memory> {
    let mut sum = Memory::default();
    for &pid in pids {
        let m = memory(pid)?;
        sum.rss_kb += m.rss_kb;
        sum.peak_kb += m.peak_kb;
        sum.anon_kb += m.anon_kb;
    }
    Ok(sum)
}

/// The CPU time of a set of processes, summed, in seconds.
pub fn cpu_seconds_sum(pids: &[u32]) -> io::Result<f64> {
    pids.iter().map(|&p| cpu_seconds(p)).sum()
}

/// The number of live descendants of `pids` that are not in `pids`, and the sum of their
/// resident sets, in KiB.
pub fn descendants_rss_kb(pids: &[u32]) -> (usize, u64) {
    let mut kids: Vec<u32> = pids.iter().flat_map(|&p| descendants(p)).collect();
    kids.sort_unstable();
    kids.dedup();
    kids.retain(|k| !pids.contains(k));
    let rss = kids
        .iter()
        .filter_map(|&k| memory(k).ok())
        .map(|m| m.rss_kb)
        .sum();
    (kids.len(), rss)
}

#[cfg(test)]
mod tests {
    use super::{cpu_seconds, descendants, memory};

    #[test]
    fn reads_this_process_and_a_child() {
        let me = std::process::id();
        let m = memory(me).unwrap();
        assert!(m.rss_kb > 0 && m.peak_kb >= m.rss_kb);
        assert!(cpu_seconds(me).unwrap() >= 0.0);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let found = descendants(me).contains(&child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found);
    }
}
