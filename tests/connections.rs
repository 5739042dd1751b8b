//! Clients that misbehave at the connection level, against the real server in-process on
//! 127.0.0.1:0: a client that shuts its side after its request is answered on every view
//! (filtered ones too); a client that never reads is dropped at the write timeout, with a log
//! line and a metric; and stopping is never held by such clients beyond its short grace.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wardfeed::clock::{Clock, ManualClock};
use wardfeed::config::Config;
use wardfeed::serve::AppState;
use wardfeed::store::Store;

/// The real server over the fixture world's ledger, on a listener whose accepted sockets have
/// a small send buffer, so that a client that does not read stalls a response of a few
/// hundred kilobytes instead of the kernel swallowing it.
struct Served {
    address: std::net::SocketAddr,
    state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _store_dir: tempfile::TempDir,
    _portal: wardfeed_portal::PortalServer,
}

impl Served {
    async fn start(adjust: impl FnOnce(&mut Config)) -> Served {
        let portal = serve("s1").await;
        let mut config = fixture_config(&portal);
        adjust(&mut config);
        let store_dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(store_dir.path()).unwrap());
        refresh_all(&config, &store, snapshot_time("s1")).await;
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(4096).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(64).unwrap();
        let address = listener.local_addr().unwrap();
        let clock = Arc::new(ManualClock::new(snapshot_time("s1").to_utc()));
        let state = Arc::new(AppState::new(
            Arc::new(config),
            store,
            format!("http://{address}"),
            clock as Arc<dyn Clock>,
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(wardfeed::serve::run(
            listener,
            Arc::clone(&state),
            async move {
                let _ = stopped.await;
            },
        ));
        Served {
            address,
            state,
            stop: Some(stop),
            task: Some(task),
            _store_dir: store_dir,
            _portal: portal,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// How many connections the server dropped for `reason`, as `/metrics` counts them.
    fn dropped(&self, reason: &str) -> u64 {
        let wanted = format!("wardfeed_http_connections_dropped_total{{reason=\"{reason}\"}} ");
        self.state
            .metrics()
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(wanted.as_str()))
            .map_or(0, |v| v.trim().parse().unwrap())
    }

    /// Feed requests answered so far (counted once the handler has its response).
    fn feeds_answered(&self) -> u64 {
        self.state
            .metrics()
            .render()
            .lines()
            .filter(|l| l.starts_with("wardfeed_http_requests_total{route=\"feed\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

/// A client with a small receive buffer that asks for `path` and then reads nothing.
async fn stalled_reader(address: std::net::SocketAddr, path: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: wardfeed\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream
}

/// Everything the server sends until it closes (bounded: 60 s), errors (a reset) ending it.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        let mut chunk = [0u8; 65536];
        while let Ok(n @ 1..) = stream.read(&mut chunk).await {
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server neither finished nor closed in 60 s"
    );
    received
}

/// Polls `condition` every 50 ms, at most 60 s; whether it came true.
async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..1200 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_closed_requests_are_answered_on_every_view() {
    let served = Served::start(|_| {}).await;
    let views = [
        "/",
        "/opml",
        "/residents.opml",
        "/feed.xsl",
        "/healthz",
        "/status.json",
        "/metrics",
        "/feeds/all.rss",
        "/feeds/phucloi.atom",
        "/feeds/group/longbien.json",
        "/feeds/incidents.atom",
        "/feeds/all.rss?limit=3",
        "/feeds/phucloi.atom?q=phuc%20loi",
        "/feeds/group/longbien.json?since=2023-01-01&limit=2",
        "/feeds/bode/tin-moi-nhat.rss?q=le",
    ];
    let mut unanswered = Vec::new();
    for view in views {
        let mut stream = TcpStream::connect(served.address).await.unwrap();
        stream
            .write_all(format!("GET {view} HTTP/1.1\r\nHost: wardfeed\r\n\r\n").as_bytes())
            .await
            .unwrap();
        // As `printf 'GET …' | nc -N` does: nothing more will be sent.
        stream.shutdown().await.unwrap();
        let answer = read_until_closed(&mut stream).await;
        let head = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
        if head != "HTTP/1.1 200" {
            unanswered.push(format!("{view}: {head:?}"));
        }
    }
    assert!(
        unanswered.is_empty(),
        "half-closed requests not answered 200: {unanswered:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_at_the_write_timeout() {
    let served = Served::start(|config| {
        config.server.write_timeout = Duration::from_secs(1);
    })
    .await;
    let full = http_client()
        .get(served.url("/feeds/all.rss"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        full.len() > 256 * 1024,
        "the feed ({} bytes) must be far bigger than the socket buffers",
        full.len()
    );
    let mut stalled = stalled_reader(served.address, "/feeds/all.rss").await;
    assert!(
        eventually(|| served.dropped("write_timeout") == 1).await,
        "the stalled client was never dropped"
    );
    // The client now reads: it gets what the buffers held, then the close, never the rest.
    let received = read_until_closed(&mut stalled).await;
    assert!(
        received.len() < full.len(),
        "{} of {} bytes: the response was not cut",
        received.len(),
        full.len()
    );
    // Readers that read are served as before.
    let again = http_client()
        .get(served.url("/feeds/all.rss"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(again, full);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_is_not_held_by_clients_that_never_read() {
    // A write timeout far longer than any drain: only stopping's own grace may end them.
    let mut served = Served::start(|config| {
        config.server.write_timeout = Duration::from_secs(3600);
    })
    .await;
    let before = served.feeds_answered();
    let mut first = stalled_reader(served.address, "/feeds/all.rss").await;
    let mut second = stalled_reader(served.address, "/feeds/group/longbien.rss").await;
    assert!(
        eventually(|| served.feeds_answered() >= before + 2).await,
        "the two responses never started"
    );
    served.stop.take().unwrap().send(()).unwrap();
    // The daemon waits at most 20 s for the server; the server must be done well before,
    // whatever the stalled clients do (before: it waited for them for ever).
    let stopped = tokio::time::timeout(
        wardfeed::daemon::DRAIN_DEADLINE,
        served.task.take().unwrap(),
    )
    .await;
    assert!(
        stopped.is_ok(),
        "the server still waited on its stalled readers after {:?}",
        wardfeed::daemon::DRAIN_DEADLINE
    );
    stopped.unwrap().unwrap().unwrap();
    assert_eq!(served.dropped("shutdown"), 2);
    for stream in [&mut first, &mut second] {
        let received = read_until_closed(stream).await;
        assert!(received.starts_with(b"HTTP/1.1 200"));
    }
}
