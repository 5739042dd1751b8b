//! The connection loop: a `sendfile` fast path for current documents in front of hyper.
//!
//! Each connection starts here. While its requests are plain GET/HEADs of documents that are
//! current (the common case: feed readers polling), the answer is a precomputed head and the
//! body sent with `sendfile` from an in-memory file, as a static file server does. The first
//! request that is anything else — a query string, a document to render, a body, a malformed
//! head — hands the connection, with the bytes already read, to hyper and axum for good; they
//! do everything else, including every error answer.

use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::{Buf, BytesMut};
use chrono::Utc;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::AppState;
use super::http::{Conditions, http_date};

/// Largest request head the fast path reads; a bigger one goes to hyper (which refuses it).
const MAX_HEAD: usize = 16 * 1024;
/// Headers the fast path parses; a request with more goes to hyper.
const MAX_HEADERS: usize = 48;
/// Timeouts of one connection, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client may take to send a request head once it started one.
    pub head: Duration,
    /// How long an idle keep-alive connection is kept.
    pub idle: Duration,
}

thread_local! {
    /// The Date header of the current second, formatted once per second per thread.
    static DATE: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
}

/// Serves one connection until it closes, fails, times out or the server shuts down.
pub async fn connection(
    mut stream: TcpStream,
    state: Arc<AppState>,
    router: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut buffer = BytesMut::with_capacity(2048);
    let mut head = Vec::with_capacity(512);
    loop {
        match read_head(&mut stream, &mut buffer, limits, &mut shutdown).await {
            Ok(HeadRead::Complete) => {}
            Ok(HeadRead::Closed) | Err(_) => return,
            Ok(HeadRead::Other) => return handoff(stream, buffer, router, limits, shutdown).await,
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let length = match request.parse(&buffer) {
            Ok(httparse::Status::Complete(length)) => length,
            // Malformed or too many headers: hyper gives the proper error answer.
            _ => return handoff(stream, buffer, router, limits, shutdown).await,
        };
        let Some(fast) = FastRequest::from(&request) else {
            return handoff(stream, buffer, router, limits, shutdown).await;
        };
        let now = Utc::now();
        let Some((representation, max_age)) = state.hot(fast.path, now) else {
            return handoff(stream, buffer, router, limits, shutdown).await;
        };
        let decision = representation.decide(&fast.conditions);
        let close = fast.close || *shutdown.borrow();
        head.clear();
        DATE.with(|date| {
            let mut date = date.borrow_mut();
            if date.0 != now.timestamp() {
                *date = (now.timestamp(), http_date(now));
            }
            representation.write_head(&decision, max_age, &date.1, close, &mut head);
        });
        let body = decision
            .with_body
            .then(|| representation.file(decision.coding))
            .flatten();
        if decision.with_body && body.is_none() {
            // No in-memory file for this body: hyper serves it from memory.
            return handoff(stream, buffer, router, limits, shutdown).await;
        }
        state.metrics().record_http(
            super::route_label(fast.path),
            if decision.not_modified { 304 } else { 200 },
        );
        let sent = match body {
            Some((file, length)) => send_with_body(&stream, &head, file, length).await,
            None => stream.write_all(&head).await,
        };
        buffer.advance(length);
        if sent.is_err() || close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

enum HeadRead {
    /// The buffer holds a whole request head.
    Complete,
    /// The peer closed (or went idle, or the server is stopping) between requests.
    Closed,
    /// Something the fast path does not read: let hyper have it.
    Other,
}

/// Reads until the buffer holds a complete head (`\r\n\r\n`), within the timeouts.
///
/// The header timeout is a deadline for the whole head, counted from its first byte: a timeout
/// per read would let a client that trickles one byte at a time (slowloris) hold its
/// connection for hours.
async fn read_head(
    stream: &mut TcpStream,
    buffer: &mut BytesMut,
    limits: Limits,
    shutdown: &mut watch::Receiver<bool>,
) -> io::Result<HeadRead> {
    let mut head_deadline = None;
    loop {
        if buffer.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(HeadRead::Complete);
        }
        if buffer.len() >= MAX_HEAD || buffer.windows(2).any(|w| w == b"\n\n") {
            // Too long for us, or ended by bare LFs, which hyper reads (and we do not).
            return Ok(HeadRead::Other);
        }
        let idle = buffer.is_empty();
        if idle && *shutdown.borrow() {
            return Ok(HeadRead::Closed);
        }
        let deadline = if idle {
            Instant::now() + limits.idle
        } else {
            *head_deadline.get_or_insert_with(|| Instant::now() + limits.head)
        };
        buffer.reserve(2048);
        let read = tokio::select! {
            read = tokio::time::timeout_at(deadline, stream.read_buf(buffer)) => read,
            // Stopping: an idle connection closes now; a half-sent head is still read.
            _ = shutdown.changed(), if idle => return Ok(HeadRead::Closed),
        };
        match read {
            Ok(Ok(0)) => {
                return Ok(if idle {
                    HeadRead::Closed
                } else {
                    HeadRead::Other
                });
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(error),
            // Idle too long: close. A head not complete by its deadline (slowloris): close.
            Err(_) => return Ok(HeadRead::Closed),
        }
    }
}

/// The parts of a request the fast path needs, when it can answer it at all.
struct FastRequest<'a> {
    path: &'a str,
    conditions: Conditions<'a>,
    close: bool,
}

impl<'a> FastRequest<'a> {
    fn from(request: &'a httparse::Request<'a, 'a>) -> Option<FastRequest<'a>> {
        let head = match request.method? {
            "GET" => false,
            "HEAD" => true,
            _ => return None,
        };
        let path = request.path?;
        // Queries (filters) and anything but an origin-form path go to the full router.
        if !path.starts_with('/') || path.contains('?') {
            return None;
        }
        let http10 = request.version? == 0;
        let mut conditions = Conditions {
            head,
            ..Conditions::default()
        };
        let mut close = http10;
        for header in request.headers.iter() {
            let value = std::str::from_utf8(header.value).ok()?;
            let name = header.name;
            if name.eq_ignore_ascii_case("accept-encoding") {
                conditions.accept_encoding = Some(value);
            } else if super::browser_header(name, value) {
                // A browser opening a page: the router may answer a feed as a page.
                return None;
            } else if name.eq_ignore_ascii_case("if-none-match") {
                conditions.if_none_match = Some(value);
            } else if name.eq_ignore_ascii_case("if-modified-since") {
                conditions.if_modified_since = Some(value);
            } else if name.eq_ignore_ascii_case("connection") {
                let tokens = value.split(',').map(str::trim);
                for token in tokens {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                        close = false;
                    } else if token.eq_ignore_ascii_case("upgrade") {
                        return None;
                    }
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                // A request body is not ours to skip: hyper handles (and refuses) it.
                if value.trim() != "0" {
                    return None;
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("expect")
            {
                return None;
            }
        }
        Some(FastRequest {
            path,
            conditions,
            close,
        })
    }
}

/// Writes the head (held back with MSG_MORE so head and body leave together), then the body
/// with `sendfile` from its in-memory file.
async fn send_with_body(
    stream: &TcpStream,
    head: &[u8],
    file: &std::os::fd::OwnedFd,
    length: usize,
) -> io::Result<()> {
    let mut written = 0;
    while written < head.len() {
        stream.writable().await?;
        match stream.try_io(Interest::WRITABLE, || {
            rustix::net::send(
                stream.as_fd(),
                &head[written..],
                rustix::net::SendFlags::MORE,
            )
            .map_err(io::Error::from)
        }) {
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    let mut offset: u64 = 0;
    while (offset as usize) < length {
        stream.writable().await?;
        let remaining = length - offset as usize;
        match stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream.as_fd(), file, Some(&mut offset), remaining)
                .map_err(io::Error::from)
        }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Gives the connection, and the bytes already read from it, to hyper for the rest of its life.
async fn handoff(
    stream: TcpStream,
    buffer: BytesMut,
    router: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Rewind {
        prefix: buffer,
        stream,
    });
    let service = TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head)
        .max_buf_size(MAX_HEAD.max(8192) * 4);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A stream that first yields bytes already read from it.
struct Rewind {
    prefix: BytesMut,
    stream: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
