//! The HTTP endpoint: `GET /metrics` answered from one std thread with
//! the text exposition format 0.0.4. Nothing else is served (404), only
//! GET and HEAD are allowed (405), a request head is read up to
//! [`MAX_REQUEST`] bytes within [`READ_WITHIN`] (431, 408), and every
//! connection is closed after one answer.
//!
//! One connection at a time: a scraper (Prometheus scrapes each target
//! once per interval) never waits on another for longer than the read and
//! write bounds. Hand-written rather than a web framework: the whole
//! protocol needed is one request line, and the exporter's own listener
//! would bring tokio and hyper.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest request head read (a scraper's is a few hundred bytes).
pub(super) const MAX_REQUEST: usize = 8 * 1024;
/// Longest wait for a whole request head.
pub(super) const READ_WITHIN: Duration = Duration::from_secs(2);
/// Longest wait for one write of the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the thread to end when stopping.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// The content type of the text exposition format.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoint serves: the exposition, rendered per request.
pub(super) trait Page: Send + 'static {
    /// The exposition now.
    fn render(&self) -> String;
}

/// The running endpoint. Dropping it stops it too.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `listen` and serves `page` on a thread of its own.
    pub(super) fn start(listen: SocketAddr, page: impl Page) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("medtap-metrics-http".into())
            .spawn(move || serve(&listener, &flag, &page))?;
        tracing::info!(%addr, "metrics endpoint listening");
        Ok(MetricsServer {
            addr,
            stop,
            handle: Some(handle),
        })
    }

    /// The address it listens on (the port chosen, for a `listen` port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits (a bounded time) for the thread to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        // Release: the thread sees the flag once accept() returns.
        self.stop.store(true, Ordering::Release);
        // Wake the blocked accept() with a connection of our own.
        let _ = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_secs(1));
        let deadline = Instant::now() + STOP_WITHIN;
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if handle.is_finished() {
            if handle.join().is_err() {
                tracing::error!("metrics endpoint thread panicked");
            }
        } else {
            tracing::warn!(addr = %self.addr, "metrics endpoint did not stop in time: left behind");
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An address to connect to for `addr`: a wildcard one is reached on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn serve(listener: &TcpListener, stop: &AtomicBool, page: &impl Page) {
    let mut errors = 0u64;
    for conn in listener.incoming() {
        // Acquire: pairs with the Release store in `shutdown`.
        if stop.load(Ordering::Acquire) {
            break;
        }
        match conn {
            Ok(stream) => {
                if let Err(e) = answer(stream, page) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            }
            Err(e) => {
                errors += 1;
                // Log the 1st, 2nd, 4th ... failure: visible without flooding.
                if errors.is_power_of_two() {
                    tracing::warn!(error = %e, errors, "metrics endpoint: accept failed");
                }
                // Out of descriptors, say: do not spin.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Request {
    /// GET or HEAD of a path (query string removed).
    Read { head_only: bool, path: String },
    /// Another method.
    OtherMethod,
}

/// Reads one request head (bounded in bytes and time) and answers it.
fn answer(mut stream: TcpStream, page: &impl Page) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let (status, body, head_only) = match read_head(&mut stream) {
        Err(Refusal::TooLarge) => ("431 Request Header Fields Too Large", String::new(), false),
        Err(Refusal::Timeout) => ("408 Request Timeout", String::new(), false),
        Err(Refusal::Closed) => return Ok(()),
        Err(Refusal::Io(e)) => return Err(e),
        Ok(head) => match parse(&head) {
            None => ("400 Bad Request", String::new(), false),
            Some(Request::OtherMethod) => ("405 Method Not Allowed", String::new(), false),
            Some(Request::Read { head_only, path }) if path == "/metrics" => {
                ("200 OK", page.render(), head_only)
            }
            Some(Request::Read { head_only, .. }) => (
                "404 Not Found",
                "only /metrics is served\n".into(),
                head_only,
            ),
        },
    };
    let allow = if status.starts_with("405") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    linger(&mut stream);
    Ok(())
}

/// Reads what the client still sends (a refused head's rest), briefly
/// and up to a bound, before closing: closing a socket with unread bytes
/// resets the connection, and the client may lose the answer with it.
fn linger(stream: &mut TcpStream) {
    const LINGER_BYTES: usize = 64 * 1024;
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut sink = [0u8; 4096];
    let mut read = 0;
    while read < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

/// Why no request head was read.
#[derive(Debug)]
enum Refusal {
    TooLarge,
    Timeout,
    /// The client went away before sending a whole head.
    Closed,
    Io(io::Error),
}

/// Reads until the blank line that ends the head.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Refusal> {
    let deadline = Instant::now() + READ_WITHIN;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Refusal::Timeout);
        }
        stream.set_read_timeout(Some(left)).map_err(Refusal::Io)?;
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Err(Refusal::Closed),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Refusal::Timeout)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Refusal::Io(e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf) {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() >= MAX_REQUEST {
            return Err(Refusal::TooLarge);
        }
    }
}

/// Where the head ends (after its blank line: CRLF CRLF, or LF LF).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The request line of `head`: `METHOD TARGET HTTP/x.y`.
pub(super) fn parse(head: &[u8]) -> Option<Request> {
    let line_end = head.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&head[..line_end])
        .ok()?
        .trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => {
            return Some(Request::OtherMethod)
        }
        _ => return None,
    };
    let path = target.split('?').next().unwrap_or(target).to_string();
    Some(Request::Read { head_only, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_parse_strictly() {
        let read = |head_only, path: &str| {
            Some(Request::Read {
                head_only,
                path: path.into(),
            })
        };
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            read(false, "/metrics")
        );
        assert_eq!(
            parse(b"HEAD /metrics?x=1 HTTP/1.0\n\n"),
            read(true, "/metrics")
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), read(false, "/"));
        assert_eq!(
            parse(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Request::OtherMethod)
        );
        assert_eq!(parse(b"GET /metrics\r\n\r\n"), None, "HTTP/0.9");
        assert_eq!(parse(b"GET metrics HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(b"GET  /metrics HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(b"\x16\x03\x01\x02\x00\n\n"), None, "TLS hello");
        assert_eq!(parse(b"GET /metrics HTTP/2\r\n\r\n"), None);
    }

    struct Fixed;
    impl Page for Fixed {
        fn render(&self) -> String {
            "up 1\n".into()
        }
    }

    fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn a_client_that_sends_nothing_or_too_much_holds_the_endpoint_only_briefly() {
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), Fixed).unwrap();
        let addr = server.local_addr();
        let start = Instant::now();
        // Connected, silent: answered 408 once READ_WITHIN is over.
        let idle = std::thread::spawn(move || exchange(addr, b"GET /metr"));
        std::thread::sleep(Duration::from_millis(100));
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")));
        assert!(ok.ends_with("\r\n\r\nup 1\n"), "{ok}");
        assert!(start.elapsed() < READ_WITHIN + Duration::from_secs(2));
        let idle = idle.join().unwrap();
        assert!(idle.starts_with("HTTP/1.1 408 "), "{idle}");
        // A head that never ends: refused at the bound, not buffered on.
        let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
        big.resize(MAX_REQUEST + 100, b'a');
        let refused = exchange(addr, &big);
        assert!(refused.starts_with("HTTP/1.1 431 "), "{refused}");
        let stopping = Instant::now();
        server.stop();
        assert!(stopping.elapsed() < Duration::from_secs(2));
        assert!(TcpStream::connect(addr).is_err(), "still listening");
    }

    #[test]
    fn the_head_ends_at_its_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
