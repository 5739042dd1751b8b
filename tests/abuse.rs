//! Abuse of the HTTP server as it is deployed: the real binary (`wardfeed demo`) in a process of
//! its own, so that its memory and file descriptors are its own, attacked over loopback with
//! hostile request targets, 10,000 idle connections, slowloris heads, oversized heads and a flood
//! of searches. Every test asserts that the process lives on, that an ordinary reader is served
//! during and after the abuse, and that the server's peak memory stays under a ceiling.
//!
//! The figures each test prints (`--nocapture`) are the ones TESTING.md reports.

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    await_first_refreshes, dashboard_base, get_text, proc_status_kib, quick_config_file_with,
};
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Peak resident memory allowed the server: generous, so that only unbounded growth fails.
const MEMORY_CEILING_KIB: u64 = 400 * 1024;
/// The configured `header_timeout_secs`.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Statuses a hostile request may get: refusals, never a server error (501 and 505 say "not
/// something I do", which is a refusal too).
const REFUSALS: &[u16] = &[400, 404, 405, 414, 431, 501, 505];

/// One abuse test at a time: they share two cores, and their figures mean something only alone.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `wardfeed demo` in its own process, with the fixture configuration made quick (no
/// Crawl-delay, no retries) and short head and idle timeouts.
struct Server {
    child: Child,
    pid: u32,
    /// `127.0.0.1:PORT`.
    addr: String,
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// /feeds/phucloi.rss as served before the abuse: what an ordinary reader must keep getting.
    feed: Arc<Vec<u8>>,
    /// /healthz as answered before the abuse.
    health: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

/// What /proc says about the server process.
#[derive(Debug, Clone, Copy)]
struct Usage {
    rss_kib: u64,
    hwm_kib: u64,
    fds: usize,
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmRSS {:.1} MiB, VmHWM {:.1} MiB, {} fds",
            self.rss_kib as f64 / 1024.0,
            self.hwm_kib as f64 / 1024.0,
            self.fds
        )
    }
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = quick_config_file_with(
            dir.path(),
            &[(
                "[server]\n",
                "[server]\nheader_timeout_secs = 2\nidle_timeout_secs = 30\n",
            )],
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_wardfeed"))
            .args(["demo", "--listen", "127.0.0.1:0", "--store"])
            .arg(dir.path().join("store"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let collector = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = collector.lock().unwrap();
                // The log is for a failure message: its first 64 KiB say enough.
                if log.len() < 64 * 1024 {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), dashboard_base(&mut stdout))
            .await
            .expect("no dashboard line within 60 s")
            .unwrap_or_else(|| {
                panic!(
                    "wardfeed demo ended without a dashboard line: {}",
                    log.lock().unwrap()
                )
            });
        // Whatever else it prints must not fill a pipe nobody reads.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        let addr = base.trim_start_matches("http://").to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{base}");

        let client = reader_client();
        let refreshed =
            await_first_refreshes(&client, &base, 600, Duration::from_millis(100)).await;
        assert!(refreshed, "the five sources were not refreshed within 60 s");
        let url = format!("{base}/feeds/phucloi.rss");
        let first = client.get(&url).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let feed = first.bytes().await.unwrap().to_vec();
        assert!(
            feed.starts_with(b"<?xml") && feed.len() > 10_000,
            "{feed:?}"
        );
        let health = get_text(&client, &format!("{base}/healthz")).await;
        Server {
            child,
            pid,
            addr,
            base,
            feed: Arc::new(feed),
            health,
            log,
            _dir: dir,
        }
    }

    fn usage(&self) -> Usage {
        let field = |name: &str| -> u64 {
            proc_status_kib(self.pid, name).unwrap_or_else(|| {
                panic!(
                    "no {name} in /proc/{}/status (server gone?): {}",
                    self.pid,
                    self.log()
                )
            })
        };
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|dir| dir.count())
            .unwrap_or(0);
        Usage {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            fds,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn reader(&self) -> Reader {
        Reader::start(&self.base, Arc::clone(&self.feed))
    }

    /// The usage once connections of earlier requests are gone: the fewest descriptors in
    /// half a second.
    async fn settled(&self) -> Usage {
        let mut least = self.usage();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let usage = self.usage();
            if usage.fds < least.fds {
                least = usage;
            }
        }
        least
    }

    /// Waits (up to `within`) until the server holds at most/at least `fds` descriptors.
    async fn wait_for_fds(&self, done: impl Fn(usize) -> bool, within: Duration) -> Usage {
        let deadline = Instant::now() + within;
        loop {
            let usage = self.usage();
            if done(usage.fds) || Instant::now() >= deadline {
                return usage;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts that the server survived: alive, /healthz as before, the feed whole, peak memory
    /// under the ceiling. Then SIGTERM, which it must obey with exit code 0.
    async fn finish(mut self) -> Usage {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the server died ({status}): {}", self.log());
        }
        let client = reader_client();
        let health = get_text(&client, &format!("{}/healthz", self.base)).await;
        assert_eq!(health, self.health, "/healthz after the abuse");
        fetch_feed(&client, &self.base, &self.feed)
            .await
            .unwrap_or_else(|e| panic!("the feed after the abuse: {e}"));
        let usage = self.usage();
        assert!(
            usage.hwm_kib < MEMORY_CEILING_KIB,
            "server peak memory over the ceiling: {usage}"
        );
        let status = std::process::Command::new("kill")
            .args(["-s", "TERM", &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("no exit within 30 s of SIGTERM")
            .unwrap();
        assert_eq!(exit.code(), Some(0), "{}", self.log());
        usage
    }
}

/// A client as a feed reader is: a new connection per poll (so accepting is tested too), no
/// compression, no proxy.
fn reader_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// One poll of /feeds/phucloi.rss: 200 and the whole document, or why not.
async fn fetch_feed(client: &reqwest::Client, base: &str, feed: &[u8]) -> Result<Duration, String> {
    let start = Instant::now();
    let response = client
        .get(format!("{base}/feeds/phucloi.rss"))
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let body = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    if body[..] != feed[..] {
        return Err(format!(
            "body of {} bytes, not the feed's {}",
            body.len(),
            feed.len()
        ));
    }
    Ok(start.elapsed())
}

/// An ordinary feed reader polling /feeds/phucloi.rss every 20 ms in the background.
struct Reader {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Polls>,
}

/// What the reader saw.
struct Polls {
    latencies: Vec<Duration>,
    failures: Vec<String>,
}

impl Reader {
    fn start(base: &str, feed: Arc<Vec<u8>>) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let base = base.to_owned();
        let task = tokio::spawn(async move {
            let client = reader_client();
            let mut polls = Polls {
                latencies: Vec::new(),
                failures: Vec::new(),
            };
            while !stopped.load(Ordering::Relaxed) {
                match fetch_feed(&client, &base, &feed).await {
                    Ok(latency) => polls.latencies.push(latency),
                    Err(failure) => polls.failures.push(failure),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            polls
        });
        Reader { stop, task }
    }

    /// Stops polling; asserts that every poll got the whole feed, and that there were some.
    async fn stop(self, during: &str) -> Polls {
        self.stop.store(true, Ordering::Relaxed);
        let mut polls = self.task.await.unwrap();
        assert!(
            polls.failures.is_empty(),
            "the ordinary reader failed during {during}: {} of {} polls, first: {:?}",
            polls.failures.len(),
            polls.failures.len() + polls.latencies.len(),
            polls.failures.first()
        );
        assert!(
            !polls.latencies.is_empty(),
            "the ordinary reader got no answer during {during}"
        );
        polls.latencies.sort();
        polls
    }
}

impl Polls {
    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }
}

impl std::fmt::Display for Polls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} polls, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.latencies.len(),
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(*self.latencies.last().unwrap())
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Every byte a raw connection got back for `request`, and whether the server closed it
/// within `wait` (a reset counts as closed).
async fn exchange(addr: &str, request: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let deadline = tokio::time::Instant::now() + wait;
    let (mut rd, mut wr) = stream.split();
    // Written while reading: a server may answer (and close) before it has read everything,
    // and a failed write is then no failure. The write side is never shut: a half-closed
    // connection would be a different request.
    let write = async {
        let _ = tokio::time::timeout_at(deadline, wr.write_all(request)).await;
    };
    let read = async {
        let mut bytes = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, rd.read_buf(&mut bytes)).await {
                Err(_) => return (bytes, false),
                Ok(Ok(0)) | Ok(Err(_)) => return (bytes, true),
                Ok(Ok(_)) => {}
            }
        }
    };
    let ((), got) = tokio::join!(write, read);
    got
}

/// One HTTP response off the wire.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// The responses in `bytes`, in order; an error for anything that is not HTTP.
fn answers(mut bytes: &[u8]) -> Result<Vec<Answer>, String> {
    let mut answers = Vec::new();
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(bytes) {
            Ok(httparse::Status::Complete(head)) => head,
            Ok(httparse::Status::Partial) => return Err("a truncated response head".into()),
            Err(e) => {
                let start = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
                return Err(format!("not an HTTP response ({e}): {start:?}"));
            }
        };
        let status = response.code.unwrap_or(0);
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
        };
        let length = header("content-length");
        let chunked = header("transfer-encoding").is_some_and(|te| te.ends_with("chunked"));
        let rest = &bytes[head..];
        let (body, used) = if (100..200).contains(&status) || status == 204 || status == 304 {
            (Vec::new(), 0)
        } else if chunked {
            dechunk(rest)?
        } else if let Some(length) = length {
            let length: usize = length.parse().map_err(|_| "a bad content-length")?;
            if rest.len() < length {
                return Err(format!("a body of {} bytes, not {length}", rest.len()));
            }
            (rest[..length].to_vec(), length)
        } else {
            (rest.to_vec(), rest.len())
        };
        if !(100..200).contains(&status) {
            answers.push(Answer { status, body });
        }
        bytes = &rest[used..];
    }
    Ok(answers)
}

/// A chunked body: the body, and how many bytes it took on the wire.
fn dechunk(wire: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = wire[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a truncated chunk size")?;
        let size = std::str::from_utf8(&wire[at..at + line_end]).map_err(|_| "a bad chunk")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("a bad chunk size {size:?}"))?;
        at += line_end + 2;
        if size == 0 {
            // No trailers from us: the final CRLF.
            return Ok((body, (at + 2).min(wire.len())));
        }
        let chunk = wire.get(at..at + size).ok_or("a truncated chunk")?;
        body.extend_from_slice(chunk);
        at += size + 2;
    }
}

/// What a 200 to a hostile request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    /// /feeds/phucloi.rss, byte for byte.
    Feed,
    /// The health check.
    Health,
}

struct Case {
    name: &'static str,
    request: Vec<u8>,
    /// What a 200 may be; empty: no 200 at all.
    may_serve: &'static [Served],
    /// Whether closing without any answer is acceptable (for what is not HTTP/1 at all).
    may_close: bool,
    /// The status the first answer must have, where HTTP says exactly.
    first: Option<u16>,
}

/// `GET target` with a Host and `Connection: close`, so the server closes once it answered.
fn get(target: impl AsRef<[u8]>) -> Vec<u8> {
    request("GET", target)
}

fn request(method: &str, target: impl AsRef<[u8]>) -> Vec<u8> {
    let mut bytes = format!("{method} ").into_bytes();
    bytes.extend_from_slice(target.as_ref());
    bytes.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    bytes
}

fn case(name: &'static str, request: Vec<u8>) -> Case {
    Case {
        name,
        request,
        may_serve: &[],
        may_close: false,
        first: None,
    }
}

/// About forty request targets and heads meant to reach files, confuse the router or the
/// HTTP parser, or desynchronise a connection.
fn hostile_requests(addr: &str) -> Vec<Case> {
    let feed = &[Served::Feed];
    let mut long_path = b"/feeds/".to_vec();
    long_path.extend(std::iter::repeat_n(b'a', 64 * 1024));
    long_path.extend_from_slice(b".rss");
    let mut path_8k = b"/feeds/".to_vec();
    path_8k.extend(std::iter::repeat_n(b'a', 8 * 1024));
    path_8k.extend_from_slice(b".rss");
    let mut pipelined_garbage = get("/feeds/phucloi.rss")
        .strip_suffix(b"Connection: close\r\n\r\n")
        .unwrap()
        .to_vec();
    pipelined_garbage.extend_from_slice(b"\r\n\x00\x01\x02 \xff\xfe garbage \r\n\r\n");
    vec![
        case("dot-dot to /etc/passwd", get("/../../etc/passwd")),
        case("dot-dot out of /feeds", get("/feeds/../../Cargo.toml")),
        case("encoded dot-dot", get("/feeds/%2e%2e/%2e%2e/etc/passwd")),
        case("encoded slash", get("/feeds/..%2f..%2fetc%2fpasswd.rss")),
        case(
            "all encoded",
            get("/feeds/%2e%2e%2f%2e%2e%2fCargo.toml%00.rss"),
        ),
        case("root encoded dot-dot", get("/%2e%2e/%2e%2e/etc/passwd")),
        case("double slash", get("//etc/passwd")),
        case("double slash in feeds", get("/feeds//etc/passwd")),
        case("encoded NUL suffix", get("/feeds/phucloi.rss%00.html")),
        case("encoded NUL in stem", get("/feeds/phucloi%00.rss")),
        case("raw NUL in path", get(b"/feeds/phucloi\x00.rss")),
        case("encoded UTF-8 stem", get("/feeds/ph%C3%BAc.rss")),
        case(
            "overlong UTF-8 dots",
            get("/feeds/%C0%AE%C0%AE/%C0%AE%C0%AE/etc/passwd"),
        ),
        case(
            "overlong UTF-8 slash",
            get("/feeds/%C0%AE%C0%AE%C0%AFCargo.toml.rss"),
        ),
        case("raw invalid UTF-8", get(b"/feeds/\xff\xfe.rss")),
        case("raw overlong UTF-8", get(b"/feeds/\xc0\xae\xc0\xae/etc/passwd")),
        case("raw UTF-8 stem", get("/feeds/phúc.rss")),
        case("path parameter", get("/feeds/phucloi.rss;jsessionid=1")),
        case("backslashes", get("/feeds\\..\\..\\Cargo.toml")),
        case("encoded backslashes", get("/feeds/%5c..%5c..%5cCargo.toml")),
        case("upper case", get("/FEEDS/PHUCLOI.RSS")),
        case("trailing slash", get("/feeds/phucloi.rss/")),
        case("encoded extension", get("/feeds/phucloi.%72ss")),
        case("dot-dot after a source", get("/feeds/phucloi/../../../../etc/passwd")),
        case("dot-dot after group", get("/feeds/group/../../Cargo.toml")),
        Case {
            may_serve: feed,
            ..case("fragment", get("/feeds/phucloi.rss#x/../../../etc/passwd"))
        },
        Case {
            may_serve: feed,
            ..case(
                "absolute form",
                get(format!("http://{addr}/feeds/phucloi.rss")),
            )
        },
        case(
            "absolute form, dot-dot",
            get(format!("http://{addr}/../../etc/passwd")),
        ),
        case("absolute form, file:", get("file:///etc/passwd")),
        case("64 KiB path", get(&long_path)),
        case("8 KiB path", get(&path_8k)),
        case("asterisk", get("*")),
        case("OPTIONS *", request("OPTIONS", "*")),
        case("CONNECT", request("CONNECT", "127.0.0.1:22")),
        case("TRACE", request("TRACE", "/")),
        case("DELETE a feed", request("DELETE", "/feeds/phucloi.rss")),
        case(
            "POST a feed",
            b"POST /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
                .to_vec(),
        ),
        case("lower-case method", request("get", "/feeds/phucloi.rss")),
        case(
            "method of 8 KiB",
            request(&"G".repeat(8 * 1024), "/feeds/phucloi.rss"),
        ),
        Case {
            may_close: true,
            ..case("HTTP/0.9", b"GET /\r\n\r\n".to_vec())
        },
        Case {
            may_close: true,
            ..case(
                "HTTP/2 preface",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00".to_vec(),
            )
        },
        case(
            "HTTP/9.9",
            b"GET /feeds/phucloi.rss HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        ),
        Case {
            may_serve: feed,
            ..case(
                "HTTP/1.0 without Host",
                b"GET /feeds/phucloi.rss HTTP/1.0\r\n\r\n".to_vec(),
            )
        },
        Case {
            // Bare LF line ends are lenient HTTP: hyper answers them rather than waiting for
            // CRLFs that never come.
            may_serve: feed,
            ..case(
                "bare LF",
                b"GET /feeds/phucloi.rss HTTP/1.1\nHost: x\nConnection: close\n\n".to_vec(),
            )
        },
        case(
            "bare CR in a header",
            b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
        case(
            "header without a colon",
            b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(),
        ),
        case(
            "obsolete line folding",
            b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
        case(
            "two differing Content-Lengths",
            b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
        ),
        case(
            "negative Content-Length",
            b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
        ),
        Case {
            // Transfer-Encoding wins (RFC 9112 6.3): the body is the empty chunked one, and the
            // health check after it is a second request, not part of a body.
            may_serve: &[Served::Feed, Served::Health],
            ..case(
                "Content-Length and Transfer-Encoding",
                b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            )
        },
        case(
            "unknown Transfer-Encoding",
            b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, identity\r\n\r\n"
                .to_vec(),
        ),
        Case {
            may_serve: feed,
            ..case(
                "Upgrade to h2c",
                b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
                    .to_vec(),
            )
        },
        Case {
            may_serve: feed,
            first: Some(200),
            ..case("pipelined garbage after a valid request", pipelined_garbage)
        },
        case("limit past usize", get("/feeds/all.json?limit=99999999999999999999999")),
        case("negative limit", get("/feeds/all.json?limit=-1")),
        case("since, not a date", get("/feeds/all.json?since=../../etc/passwd")),
        case(
            "since, far future",
            get("/feeds/all.json?since=%2B275760-09-13T00:00:00Z"),
        ),
        case("q of 201 characters", get(format!("/feeds/all.json?q={}", "a".repeat(201)))),
        case("q on a file outside", get("/etc/passwd?q=root")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_targets_get_refusals_never_files_nor_errors() {
    let _serial = SERIAL.lock().await;
    let server = Server::start().await;
    let reader = server.reader();
    let cases = hostile_requests(&server.addr);
    let count = cases.len();
    let started = Instant::now();
    let results = futures_util::stream::iter(cases)
        .map(|case| {
            let addr = server.addr.clone();
            async move {
                let got = exchange(&addr, &case.request, Duration::from_secs(8)).await;
                (case, got)
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed();
    let mut wrong = Vec::new();
    for (case, (bytes, closed)) in &results {
        let problem = judge(case, bytes, *closed, &server);
        let said = match answers(bytes) {
            Ok(answers) if answers.is_empty() => "closed, no answer".to_owned(),
            Ok(answers) => answers
                .iter()
                .map(|a| a.status.to_string())
                .collect::<Vec<_>>()
                .join(" then "),
            Err(e) => e,
        };
        eprintln!("abuse: {:<40} {said}", case.name);
        if let Some(problem) = problem {
            wrong.push(format!("{}: {problem}", case.name));
        }
    }
    let polls = reader.stop("the hostile requests").await;
    let client = reader_client();
    let metrics = get_text(&client, &format!("{}/metrics", server.base)).await;
    for invented in ["passwd", "Cargo", "jsessionid"] {
        assert!(
            !metrics.contains(invented),
            "a client-chosen path became a metrics label: {invented}"
        );
    }
    let usage = server.finish().await;
    eprintln!(
        "abuse: {count} hostile requests in {:.1} s; reader during: {polls}; server after: {usage}",
        elapsed.as_secs_f64()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What is wrong with how the server answered `case`, if anything.
fn judge(case: &Case, bytes: &[u8], closed: bool, server: &Server) -> Option<String> {
    for leak in [&b"[package]"[..], b"root:"] {
        if bytes.windows(leak.len()).any(|w| w == leak) {
            return Some(format!(
                "a file's contents came back: {:?}",
                String::from_utf8_lossy(bytes)
            ));
        }
    }
    if !closed {
        return Some("neither answered and closed nor refused within 8 s".into());
    }
    let answers = match answers(bytes) {
        Ok(answers) => answers,
        Err(e) => return Some(e),
    };
    if answers.is_empty() && !case.may_close {
        return Some("closed without an answer".into());
    }
    if let (Some(first), Some(answer)) = (case.first, answers.first())
        && answer.status != first
    {
        return Some(format!("first answer {}, not {first}", answer.status));
    }
    for answer in &answers {
        let served = match answer.status {
            200 => case.may_serve.iter().any(|served| match served {
                Served::Feed => answer.body == server.feed[..],
                Served::Health => String::from_utf8_lossy(&answer.body) == server.health,
            }),
            status => REFUSALS.contains(&status),
        };
        if !served {
            return Some(format!(
                "answered {}: {:?}",
                answer.status,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
            ));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_leave_readers_served() {
    const IDLE: usize = 10_000;
    const BATCH: usize = 100;
    let _serial = SERIAL.lock().await;
    // This process holds one end of every connection and the server (which inherits the
    // limit) the other: raise the soft open-file limit to the hard one, as the server does.
    let open_files = wardfeed::serve::raise_open_file_limit().unwrap_or(u64::MAX);
    assert!(
        open_files > (IDLE + 1000) as u64,
        "this test needs more open files than the hard limit of {open_files} (ulimit -Hn)"
    );
    let server = Server::start().await;
    let before = server.settled().await;
    let reader = server.reader();
    let opening = Instant::now();
    let mut held = Vec::with_capacity(IDLE);
    let mut open = before;
    for _ in 0..IDLE / BATCH {
        let batch = futures_util::future::join_all(
            (0..BATCH).map(|_| TcpStream::connect(server.addr.as_str())),
        )
        .await;
        for stream in batch {
            held.push(stream.expect("connect"));
        }
        // Connected is not yet accepted: a client that outruns accept() and overflows the
        // listen backlog has its handshake's last ACK dropped, and with SYN cookies that
        // connection is never accepted at all though the client thinks it open. The server's
        // backlog is deep, but the kernel may cap it (somaxconn); so batches stay small, and
        // each waits for the server to hold a descriptor for every connection so far.
        let wanted = before.fds + held.len();
        open = server
            .wait_for_fds(|fds| fds >= wanted, Duration::from_secs(10))
            .await;
        assert!(
            open.fds >= wanted,
            "the server accepted {} of {} connections within 10 s: {open}",
            open.fds - before.fds,
            held.len()
        );
    }
    let accepted = opening.elapsed();
    let during_opening = reader.stop("the opening of 10,000 connections").await;
    let reader = server.reader();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during_hold = reader.stop("10,000 idle connections").await;
    let held_usage = server.usage();
    drop(held);
    let closed = server
        .wait_for_fds(|fds| fds <= before.fds + 5, Duration::from_secs(10))
        .await;
    assert!(
        closed.fds <= before.fds + 5,
        "closed connections still held by the server: {closed} (before: {before})"
    );
    let after = server.reader();
    tokio::time::sleep(Duration::from_millis(500)).await;
    after.stop("after closing 10,000 connections").await;
    let usage = server.finish().await;
    eprintln!(
        "abuse: {IDLE} idle connections opened and accepted in {:.2} s ({BATCH} a batch); {open}",
        accepted.as_secs_f64()
    );
    eprintln!("abuse: server before: {before}");
    eprintln!("abuse: server with {IDLE} open: {held_usage}");
    eprintln!("abuse: server after closing: {closed}; at the end: {usage}");
    eprintln!("abuse: reader while opening: {during_opening}");
    eprintln!("abuse: reader while {IDLE} held open: {during_hold}");
}

/// A slowloris client: a request head one byte every 500 ms, never finished. With `handed_off`
/// the connection first asks for a page that does not exist (a 404), so the slow head is the
/// second request of a kept-alive connection. Returns how long the server let the head
/// trickle before closing, or `None` if it still had not at `give_up`.
async fn slowloris(addr: String, handed_off: bool, give_up: Duration) -> Option<Duration> {
    let head = b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Padding: ";
    let mut bytes = head.iter().copied().chain(std::iter::repeat(b'a'));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    if handed_off {
        stream
            .write_all(b"GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(b"not found\n") {
            assert_ne!(stream.read_buf(&mut answer).await.unwrap(), 0, "{answer:?}");
        }
    }
    let start = Instant::now();
    let (mut rd, mut wr) = stream.split();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut answer = [0u8; 1024];
    loop {
        tokio::select! {
            read = rd.read(&mut answer) => match read {
                Ok(0) | Err(_) => return Some(start.elapsed()),
                // An answer (408, 400) before the close: keep reading to the close.
                Ok(_) => {}
            },
            _ = tick.tick() => {
                if start.elapsed() >= give_up {
                    return None;
                }
                let byte = [bytes.next().unwrap_or(b'a')];
                if wr.write_all(&byte).await.is_err() {
                    return Some(start.elapsed());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_are_cut_off_at_the_header_timeout() {
    /// Per group: slow heads on new connections, and on connections that had an answer.
    const CLIENTS: usize = 100;
    // The functional bound: the configured 2 s, plus generous slack for a loaded machine.
    const WITHIN: Duration = Duration::from_secs(10);
    const GIVE_UP: Duration = Duration::from_secs(12);
    let _serial = SERIAL.lock().await;
    let server = Server::start().await;
    let reader = server.reader();
    let groups = [("new connection", false), ("after an answer", true)];
    let clients: Vec<Vec<_>> = groups
        .iter()
        .map(|&(_, handed_off)| {
            (0..CLIENTS)
                .map(|_| tokio::spawn(slowloris(server.addr.clone(), handed_off, GIVE_UP)))
                .collect()
        })
        .collect();
    let mut failures = Vec::new();
    for ((group, _), clients) in groups.iter().zip(clients) {
        let mut cut = Vec::new();
        let mut open = 0;
        for client in clients {
            match client.await.unwrap() {
                Some(after) => cut.push(after),
                None => open += 1,
            }
        }
        cut.sort();
        let late = cut.iter().filter(|after| **after > WITHIN).count();
        let spread = match (cut.first(), cut.get(cut.len() / 2), cut.last()) {
            (Some(first), Some(median), Some(last)) => format!(
                "cut after {:.1} s min, {:.1} s median, {:.1} s max",
                first.as_secs_f64(),
                median.as_secs_f64(),
                last.as_secs_f64()
            ),
            _ => "none cut".to_owned(),
        };
        let outcome = format!(
            "{CLIENTS} slowloris heads ({group}, 1 byte / 500 ms, header_timeout_secs = {}): {} cut, {open} still open after {} s; {spread}",
            HEADER_TIMEOUT.as_secs(),
            cut.len(),
            GIVE_UP.as_secs()
        );
        eprintln!("abuse: {outcome}");
        if open > 0 || late > 0 {
            failures.push(outcome);
        }
    }
    let polls = reader.stop("the slowloris attack").await;
    let usage = server.finish().await;
    eprintln!("abuse: reader during slowloris: {polls}; server: {usage}");
    assert!(
        failures.is_empty(),
        "slow heads not cut within {} s:\n{}",
        WITHIN.as_secs(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_heads_are_refused() {
    const CONCURRENT: usize = 50;
    const ROUNDS: usize = 10;
    let _serial = SERIAL.lock().await;
    let server = Server::start().await;
    let reader = server.reader();
    let mut one_mib_line = b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    one_mib_line.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    one_mib_line.extend_from_slice(b"\r\n\r\n");
    let headers = |count: usize| {
        let mut head = b"GET /feeds/phucloi.rss HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..count {
            head.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head
    };
    let heads = [
        ("a 1 MiB header line", one_mib_line.clone()),
        ("10,000 small headers", headers(10_000)),
        ("200 small headers (under 16 KiB)", headers(200)),
    ];
    let mut wrong = Vec::new();
    let mut check = |name: &str, bytes: &[u8], closed: bool| -> String {
        let said = match answers(bytes) {
            Ok(answers) if answers.is_empty() => "closed, no answer".to_owned(),
            Ok(answers) => {
                let statuses: Vec<String> = answers.iter().map(|a| a.status.to_string()).collect();
                if answers.iter().any(|a| ![400, 413, 431].contains(&a.status)) {
                    wrong.push(format!("{name}: answered {statuses:?}"));
                }
                statuses.join(" then ")
            }
            Err(e) => {
                wrong.push(format!("{name}: {e}"));
                e
            }
        };
        if !closed {
            wrong.push(format!("{name}: not closed within 10 s"));
        }
        said
    };
    for (name, head) in &heads {
        let (bytes, closed) = exchange(&server.addr, head, Duration::from_secs(10)).await;
        let said = check(name, &bytes, closed);
        eprintln!("abuse: {name}: {said}");
    }
    let started = Instant::now();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..ROUNDS {
        let flood = futures_util::future::join_all(
            (0..CONCURRENT).map(|_| exchange(&server.addr, &one_mib_line, Duration::from_secs(20))),
        )
        .await;
        for (bytes, closed) in &flood {
            *outcomes
                .entry(check("concurrent 1 MiB heads", bytes, *closed))
                .or_default() += 1;
        }
    }
    let flood_time = started.elapsed();
    let polls = reader.stop("the huge heads").await;
    let usage = server.finish().await;
    eprintln!(
        "abuse: {ROUNDS} rounds of {CONCURRENT} concurrent 1 MiB heads in {:.2} s: {outcomes:?}",
        flood_time.as_secs_f64()
    );
    eprintln!("abuse: reader during huge heads: {polls}; server: {usage}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_searches_is_answered_and_readers_still_served() {
    const SEARCHES: usize = 2_000;
    const CONCURRENT: usize = 200;
    let _serial = SERIAL.lock().await;
    let server = Server::start().await;
    let words = [
        "phuc loi",
        "phúc lợi",
        "long biên",
        "hội nghị",
        "đảng",
        "bồ đề",
        "thạch bàn",
        "phường",
        "tin",
        "nhân dân",
        "PHÚC ĐỒNG",
        "Tổ chức",
        "kỷ niệm",
        "an toàn",
        "giao thông",
        "xyzzy",
        "😀 emoji",
        "a\u{0300} combining",
        "\"quoted\" <tag> &amp;",
        "",
    ];
    let targets: Vec<String> = (0..SEARCHES)
        .map(|i| {
            let q = format!(
                "{} {}",
                words[i % words.len()],
                words[(i / words.len()) % words.len()]
            );
            let q: String = url::form_urlencoded::byte_serialize(q.trim().as_bytes()).collect();
            format!("{}/feeds/all.json?q={q}&limit=50", server.base)
        })
        .collect();
    // No compression: the client's own decoding would take CPU from the two cores it shares
    // with the server.
    let client = reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .pool_max_idle_per_host(CONCURRENT)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let reader = server.reader();
    let started = Instant::now();
    let results = futures_util::stream::iter(targets)
        .map(|url| {
            let client = client.clone();
            async move {
                let start = Instant::now();
                let outcome = match client.get(&url).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        match response.bytes().await {
                            Ok(body) if status == 200 && !body.starts_with(b"{") => {
                                Err(format!("{url}: 200 but not JSON"))
                            }
                            Ok(_) => Ok(status),
                            Err(e) => Err(format!("{url}: body: {e}")),
                        }
                    }
                    Err(e) => Err(format!("{url}: {e}")),
                };
                (outcome, start.elapsed())
            }
        })
        .buffer_unordered(CONCURRENT)
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed();
    let polls = reader.stop("the flood of searches").await;
    let peak = server.usage();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut failures = Vec::new();
    let mut latencies: Vec<Duration> = Vec::new();
    for (outcome, latency) in results {
        latencies.push(latency);
        match outcome {
            Ok(status) => *statuses.entry(status).or_default() += 1,
            Err(e) => failures.push(e),
        }
    }
    latencies.sort();
    let usage = server.finish().await;
    eprintln!(
        "abuse: {SEARCHES} searches, {CONCURRENT} at once, in {:.1} s: {:.0} requests/s; statuses {statuses:?}; search latency p50 {:.0} ms, p99 {:.0} ms",
        elapsed.as_secs_f64(),
        SEARCHES as f64 / elapsed.as_secs_f64(),
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() * 99 / 100]),
    );
    eprintln!(
        "abuse: reader during the searches: {polls}; server after: {peak}; at the end: {usage}"
    );
    assert!(
        failures.is_empty(),
        "{} failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(statuses.get(&200), Some(&SEARCHES), "{statuses:?}");
}
