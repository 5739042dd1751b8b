//! Listening: the socket, one hyper connection per client, the limits that keep a flood of
//! clients from exhausting the process, and the graceful stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;

use super::AppState;

/// The most a request head may take in hyper's read buffer; a bigger head is answered 431.
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// How long stopping lets connections finish the responses they are writing; a client still
/// not done then (one that never reads) is dropped, so stopping never waits on it.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Serves until `shutdown` resolves, then stops accepting, closes idle connections, and
/// returns once in-flight requests are answered, or `STOP_GRACE` has passed (what is left
/// is dropped, logged and counted).
///
/// Every connection is hyper's (HTTP/1.1). A new connection may stay silent for
/// `idle_timeout` before its first request, and is handed to hyper once it has something to
/// read; from then on each request head must arrive within `header_timeout`, counted from the
/// moment hyper waits for it, so a slow head (slowloris) and a keep-alive connection idle
/// between requests are both closed after it. A client may shut its side after its request
/// (half-close) and is still answered. A response whose client takes no bytes for
/// `write_timeout` is abandoned and its connection closed (logged and counted).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = super::routes::router(Arc::clone(&state));
    let server = state.config().server.clone();
    // Beyond the limit a new connection is closed at once, so a flood of idle sockets cannot
    // exhaust memory or file descriptors.
    let permits = Arc::new(tokio::sync::Semaphore::new(connection_limit(
        server.max_connections,
    )));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(server.header_timeout)
        // Without it, an end of input while a response is still being prepared (a filtered
        // render) closes the connection unanswered: `printf 'GET …' | nc -N` got nothing.
        .half_close(true)
        .max_buf_size(MAX_HEAD_BUFFER);
    let connections = GracefulShutdown::new();
    let stop = CancellationToken::new();
    let idle = server.idle_timeout;
    let write_timeout = server.write_timeout;
    let metrics = Arc::clone(state.metrics());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        // Full: closing is kinder than queueing without bound.
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let (router, http, stop) = (router.clone(), http.clone(), stop.clone());
                    let metrics = Arc::clone(&metrics);
                    let watcher = connections.watcher();
                    tokio::spawn(async move {
                        // Peeking consumes nothing: hyper reads every byte. Silence past
                        // `idle`, a close or an error ends the connection unanswered.
                        // Biased: a request whose bytes arrived before a stop is served
                        // in stopping's grace, not closed unanswered.
                        let mut first = [0u8; 1];
                        tokio::select! {
                            biased;
                            peeked = tokio::time::timeout(idle, stream.peek(&mut first)) => {
                                if !matches!(peeked, Ok(Ok(1..))) {
                                    return;
                                }
                            }
                            () = stop.cancelled() => return,
                        }
                        let service = TowerToHyperService::new(router);
                        let mut io = tokio_io_timeout::TimeoutStream::new(stream);
                        io.set_write_timeout(Some(write_timeout));
                        let connection = watcher.watch(http.serve_connection(TokioIo::new(Box::pin(io)), service));
                        let grace_over = async {
                            stop.cancelled().await;
                            tokio::time::sleep(STOP_GRACE).await;
                        };
                        tokio::select! {
                            // A client that vanishes or sends garbage ends its own connection;
                            // hyper has already answered what deserved an answer.
                            ended = connection => if let Err(error) = ended
                                && is_write_timeout(&error)
                            {
                                tracing::warn!(timeout_secs = write_timeout.as_secs(), "a client took no bytes of its response for the write timeout: connection closed");
                                metrics.record_dropped_connection("write_timeout");
                            },
                            () = grace_over => {
                                tracing::warn!(grace_secs = STOP_GRACE.as_secs(), "a client connection was still unfinished when stopping's grace ended: closed");
                                metrics.record_dropped_connection("shutdown");
                            }
                        }
                        drop(permit);
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: say so, and do not spin.
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    stop.cancel();
    connections.shutdown().await;
    Ok(())
}

/// Whether a connection ended because its client stopped taking bytes.
fn is_write_timeout(error: &hyper::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::TimedOut;
        }
        cause = current.source();
    }
    false
}

/// How deep the queue of connections not yet accepted may grow: std's 128 overflows when
/// clients connect faster than one accept loop takes them, and the kernel caps it anyway
/// (`net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket with a backlog deep enough for a burst of connections.
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std does: a restarted daemon can bind while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises this process's soft open-file limit to its hard one, as servers do; returns the limit
/// now in force (`None`: unlimited).
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let files = getrlimit(Resource::Nofile);
    if files.current == files.maximum {
        return files.current;
    }
    let raised = Rlimit {
        current: files.maximum,
        maximum: files.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => files.maximum,
        Err(_) => files.current,
    }
}

/// File descriptors kept back from client connections: the listener, the store's files and
/// outgoing fetches need their own.
const RESERVED_FDS: u64 = 512;

/// How many client connections may be open at once: `configured`, unless the process may not
/// open that many files. Then the limit is lowered (with a warning): past the file limit
/// `accept` fails for every new reader, while past our own limit only the surplus is refused.
/// The soft file limit is raised to the hard one first, as servers do.
fn connection_limit(configured: usize) -> usize {
    let Some(open_files) = raise_open_file_limit() else {
        return configured;
    };
    let room =
        usize::try_from(open_files.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
    if room < configured {
        tracing::warn!(
            max_connections = configured,
            open_file_limit = open_files,
            limit = room,
            "max_connections is above what the open-file limit allows; lowered (raise LimitNOFILE)"
        );
        return room;
    }
    configured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_stay_within_the_open_file_limit() {
        let files = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let limit = connection_limit(usize::MAX);
        // Raised to the hard limit, less what the process keeps for itself.
        match files.maximum {
            Some(files) => assert!((limit as u64) < files, "{limit} connections, {files} files"),
            None => assert_eq!(
                limit,
                usize::MAX,
                "no file limit, no lower connection limit"
            ),
        }
        assert_eq!(connection_limit(100), 100);
    }
}
