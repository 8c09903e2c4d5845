//! Validation of `audit:`: off unless `enabled: true`; `sink` is `stderr` or a file path whose
//! directory exists (the file itself is opened, and created, when the server starts); `queue`
//! is from 1 to [`MAX_QUEUE`] (the queue's slots are allocated at startup).

use std::path::PathBuf;

use super::fields::{boolean, whole};
use crate::config::error::Report;
use crate::config::file::FileAudit;
use crate::config::model::{AuditConfig, AuditSinkConfig};

/// Records waiting for the sink at most, unless `audit.queue` says otherwise.
const DEFAULT_QUEUE: u64 = 10_000;
/// The largest `audit.queue`: a million records is minutes of a busy replica's traffic.
const MAX_QUEUE: u64 = 1_000_000;

/// The audit settings, `None` when the audit trail is off.
pub(super) fn audit(report: &mut Report, file: &FileAudit) -> Option<AuditConfig> {
    let enabled = boolean(report, "audit.enabled", file.enabled.as_ref(), false);
    let arguments_digest = boolean(
        report,
        "audit.arguments_digest",
        file.arguments_digest.as_ref(),
        false,
    );
    let mut queue = whole(report, "audit.queue", file.queue.as_ref(), DEFAULT_QUEUE, 1);
    if queue > MAX_QUEUE {
        report.error(
            "audit.queue",
            format!("must be at most {MAX_QUEUE} (got {queue})"),
        );
        queue = DEFAULT_QUEUE;
    }
    let sink = match file.sink.as_deref().map(str::trim) {
        None | Some("stderr") => AuditSinkConfig::Stderr,
        Some("") => {
            report.error("audit.sink", "must be \"stderr\" or a file path");
            AuditSinkConfig::Stderr
        }
        Some(path) => {
            let path = PathBuf::from(path);
            let directory = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if enabled && !directory.is_dir() {
                report.error(
                    "audit.sink",
                    format!(
                        "the directory of {} does not exist (the file is created there at startup)",
                        path.display()
                    ),
                );
            }
            AuditSinkConfig::File(path)
        }
    };
    if !enabled && (file.sink.is_some() || file.arguments_digest.is_some()) {
        report.warn(
            "audit.enabled",
            "audit settings are given but audit.enabled is not true: no audit records are written",
        );
    }
    enabled.then(|| AuditConfig {
        sink,
        arguments_digest,
        queue: usize::try_from(queue).unwrap_or(usize::MAX),
    })
}
