//! Finding processes by a marker in their environment, for leak checks.
//!
//! smcp-server spawns its children itself, so a test cannot hold their pids. Instead a test
//! puts a unique `E2E_MARKER=<random>` into the backend's configured `env` and asks `/proc`
//! which live processes carry it. Tests running in parallel use different markers, so they
//! never see each other's children.

use std::path::Path;

/// A fresh marker value, unique per call.
pub fn new_marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("m{}x{nanos}", std::process::id())
}

/// Pids of live (not zombie) processes whose environment holds `E2E_MARKER=<marker>`.
pub fn processes_with_marker(marker: &str) -> Vec<u32> {
    let needle = format!("E2E_MARKER={marker}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let dir = Path::new("/proc").join(pid.to_string());
            let alive = std::fs::read_to_string(dir.join("stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(')')
                        .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                })
                .is_some_and(|zombie| !zombie);
            alive
                && std::fs::read(dir.join("environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

/// Waits (bounded, 5 s) until no live process carries `marker`; panics with the survivors.
pub async fn assert_no_children(marker: &str) {
    for _ in 0..100 {
        if processes_with_marker(marker).is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "child processes survived: {:?}",
        processes_with_marker(marker)
    );
}
