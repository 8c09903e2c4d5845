//! The task that watches one session for its whole life.
//!
//! It delivers the backend's unsolicited messages (in order, following the rules in the
//! `session` module docs, keeping the undeliverable ones in a bounded queue), ends the session
//! when its backend exits, when it has been idle too long, or (legacy) when the client closes
//! its SSE stream, and exits when the session ends for any other reason.

use std::sync::Arc;

use tokio::time::Instant;

use super::{EndReason, Session, Sessions, deadline};
use crate::jsonrpc::Message;
use crate::stdio::Unsolicited;

/// Supervises `session` until it ends.
pub(crate) async fn run(
    sessions: Arc<Sessions>,
    session: Arc<Session>,
    mut unsolicited: Option<Unsolicited>,
) {
    let backend = sessions.settings.backend.clone();
    let idle = sessions.settings.idle_timeout;
    let mut child_gone = std::pin::pin!(session.conn.closed());
    let legacy = session.legacy_stream();
    let legacy_closed = async {
        match &legacy {
            Some(tx) => tx.closed().await,
            None => std::future::pending().await,
        }
    };
    let mut legacy_closed = std::pin::pin!(legacy_closed);

    loop {
        let idle_check = match session.activity.quiet_since() {
            Some(since) => deadline(since, idle),
            // Busy now: look again a full period later (activity refreshes on release).
            None => deadline(Instant::now(), idle),
        };
        tokio::select! {
            biased;
            () = session.ended.cancelled() => break,
            exit = &mut child_gone => {
                child_exited(&sessions, &session, &exit);
                break;
            }
            () = &mut legacy_closed => {
                sessions.end(&session, EndReason::ClientClosed);
                break;
            }
            msg = recv(&mut unsolicited) => match msg {
                Some(msg) => session.queue(msg, &backend),
                None => unsolicited = None,
            },
            () = session.streams_changed.notified() => {}
            () = tokio::time::sleep_until(idle_check) => {
                if session
                    .activity
                    .quiet_since()
                    .is_some_and(|since| Instant::now() >= deadline(since, idle))
                {
                    sessions.end(&session, EndReason::Idle);
                    break;
                }
            }
        }
        // Delivery can wait on a slow client; the session's end must not.
        tokio::select! {
            biased;
            () = session.ended.cancelled() => break,
            exit = &mut child_gone => {
                child_exited(&sessions, &session, &exit);
                break;
            }
            () = session.flush() => {}
        }
    }
}

fn child_exited(sessions: &Sessions, session: &Session, exit: &str) {
    tracing::info!(
        backend = %sessions.settings.backend,
        session = %session.id.short(),
        exit = %exit,
        "backend process exited"
    );
    sessions.end(session, EndReason::ChildExit);
}

/// Receives from `rx`, or waits forever once it is gone.
async fn recv(rx: &mut Option<Unsolicited>) -> Option<Message> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
