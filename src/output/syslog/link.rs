//! The connection to the syslog server: one socket, its framing, bounded
//! writes, and reconnection with backoff.
//!
//! A send never waits long: a write that has not gone out within
//! [`WRITE_TIMEOUT`] (the server stopped reading, a unix socket's queue is
//! full) fails, and so does a connection not made within
//! [`CONNECT_TIMEOUT`]. A failure drops the connection; the next attempt
//! waits [`FIRST_BACKOFF`], doubling up to [`MAX_BACKOFF`] while attempts
//! keep failing, and the messages in between are counted lost without a
//! try. Failures are logged at the 1st, 2nd, 4th, 8th ... lost message, and
//! a reconnection once.

use super::{Framing, Target};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

/// How long one message may take to be written.
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a TCP connection may take to be made (per address).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The wait before the first reconnection attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// An open connection.
enum Conn {
    /// UDP (RFC 5426): one message per datagram.
    Udp(UdpSocket),
    /// TCP (RFC 6587), framed.
    Tcp(TcpStream),
    /// A unix datagram socket (rsyslog's imuxsock, /dev/log): one message
    /// per datagram.
    Datagram(UnixDatagram),
    /// A unix stream socket, framed as TCP.
    Stream(UnixStream),
}

/// The connection and its reconnection state.
pub struct Link {
    target: Target,
    framing: Framing,
    conn: Option<Conn>,
    /// No connection is tried before this instant.
    retry_at: Option<Instant>,
    /// The wait after the next failure.
    backoff: Duration,
    /// Messages lost to the destination so far.
    failed: u64,
    /// Messages delivered so far.
    sent: u64,
    /// Lost messages since the last delivered one: the next delivery logs
    /// the reconnection.
    down: u64,
    /// The framed message (streams), reused.
    frame: Vec<u8>,
}

impl Link {
    /// A link to `target`; nothing is connected before the first send.
    pub fn new(target: Target, framing: Framing) -> Link {
        Link {
            target,
            framing,
            conn: None,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            failed: 0,
            sent: 0,
            down: 0,
            frame: Vec::new(),
        }
    }

    /// Sends one message (RFC 5424 text, unframed); false when it was lost.
    pub fn send(&mut self, msg: &str) -> bool {
        if self.conn.is_none() {
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                self.lost(None);
                return false;
            }
            match connect(&self.target) {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    self.failed_now(&e);
                    return false;
                }
            }
        }
        let result = match self.conn.as_mut() {
            Some(c) => write(c, self.framing, msg.as_bytes(), &mut self.frame),
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        };
        match result {
            Ok(()) => {
                self.delivered();
                true
            }
            Err(e) => {
                self.conn = None;
                self.failed_now(&e);
                false
            }
        }
    }

    /// Ends the connection (TCP: a FIN after the last message).
    pub fn close(&mut self) {
        match self.conn.take() {
            Some(Conn::Tcp(s)) => {
                let _ = s.shutdown(Shutdown::Write);
            }
            Some(Conn::Stream(s)) => {
                let _ = s.shutdown(Shutdown::Write);
            }
            _ => {}
        }
    }

    /// Messages `(sent, failed)` so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.sent, self.failed)
    }

    /// An attempt failed with `e`: wait before the next.
    fn failed_now(&mut self, e: &io::Error) {
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.lost(Some(e));
    }

    /// Counts a lost message, logging the 1st, 2nd, 4th, 8th ...
    fn lost(&mut self, e: Option<&io::Error>) {
        self.failed += 1;
        self.down += 1;
        if self.failed.is_power_of_two() {
            let retry_in = self
                .retry_at
                .map(|t| t.saturating_duration_since(Instant::now()));
            match e {
                Some(e) => tracing::warn!(
                    target_addr = %self.target,
                    error = %e,
                    failed = self.failed,
                    ?retry_in,
                    "syslog: send failed, messages lost until the server is reachable again"
                ),
                None => tracing::warn!(
                    target_addr = %self.target,
                    failed = self.failed,
                    ?retry_in,
                    "syslog: server still unreachable, messages lost"
                ),
            }
        }
    }

    /// A message went out.
    fn delivered(&mut self) {
        self.sent += 1;
        if self.down > 0 {
            tracing::info!(
                target_addr = %self.target,
                lost = self.down,
                failed = self.failed,
                "syslog: connected again"
            );
            self.down = 0;
        }
        self.backoff = FIRST_BACKOFF;
        self.retry_at = None;
    }
}

/// Opens a connection to `target`.
fn connect(target: &Target) -> io::Result<Conn> {
    match target {
        Target::Udp(addr) => {
            let a = resolve(addr)?.next().ok_or_else(no_address)?;
            let local: SocketAddr = match a {
                SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
                SocketAddr::V6(_) => ([0u16; 8], 0).into(),
            };
            let s = UdpSocket::bind(local)?;
            // Connected: the kernel reports the server's ICMP port
            // unreachable as ECONNREFUSED on a later send.
            s.connect(a)?;
            s.set_write_timeout(Some(WRITE_TIMEOUT))?;
            Ok(Conn::Udp(s))
        }
        Target::Tcp(addr) => {
            let mut last = no_address();
            for a in resolve(addr)? {
                match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                    Ok(s) => {
                        s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                        // Each message is one write: send it now.
                        s.set_nodelay(true)?;
                        return Ok(Conn::Tcp(s));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        Target::Unix(path) => {
            let s = UnixDatagram::unbound()?;
            match s.connect(path) {
                Ok(()) => {
                    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                    Ok(Conn::Datagram(s))
                }
                // A stream socket (e.g. syslog-ng's unix-stream source):
                // connect(2) on it from a datagram socket says EPROTOTYPE.
                Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                    let s = UnixStream::connect(path)?;
                    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                    Ok(Conn::Stream(s))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// The addresses of `HOST:PORT` (a name is looked up: this may take the
/// resolver's time, on the sink's own thread).
fn resolve(addr: &str) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    addr.to_socket_addrs()
}

fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "the host name has no address")
}

/// Writes `msg` on `c`, framed for a stream (`frame` is the buffer).
fn write(c: &mut Conn, framing: Framing, msg: &[u8], frame: &mut Vec<u8>) -> io::Result<()> {
    match c {
        Conn::Udp(s) => whole(s.send(msg)?, msg),
        Conn::Datagram(s) => whole(s.send(msg)?, msg),
        Conn::Tcp(s) => write_stream(s, framing, msg, frame),
        Conn::Stream(s) => write_stream(s, framing, msg, frame),
    }
}

/// A datagram sent with `n` of `msg`'s bytes: all, or an error.
fn whole(n: usize, msg: &[u8]) -> io::Result<()> {
    if n == msg.len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "datagram cut short",
        ))
    }
}

/// A stream connection to a syslog server.
trait Stream: Read + Write {
    fn nonblocking(&self, on: bool) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn nonblocking(&self, on: bool) -> io::Result<()> {
        self.set_nonblocking(on)
    }
}

impl Stream for UnixStream {
    fn nonblocking(&self, on: bool) -> io::Result<()> {
        self.set_nonblocking(on)
    }
}

/// Frames `msg` (RFC 6587 §3.4.1 octet counting or §3.4.2 LF trailer)
/// and writes it within [`WRITE_TIMEOUT`] (each write(2) call is bounded
/// by the socket's send timeout; the loop by the deadline).
fn write_stream(
    s: &mut impl Stream,
    framing: Framing,
    msg: &[u8],
    frame: &mut Vec<u8>,
) -> io::Result<()> {
    if peer_closed(s) {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the server closed the connection",
        ));
    }
    frame.clear();
    match framing {
        Framing::OctetCounted => {
            // Writing to a Vec cannot fail.
            let _ = write!(frame, "{} ", msg.len());
            frame.extend_from_slice(msg);
        }
        Framing::Newline => {
            // The message holds no LF (the formatter escapes it).
            frame.extend_from_slice(msg);
            frame.push(b'\n');
        }
    }
    let deadline = Instant::now() + WRITE_TIMEOUT;
    let mut rest = &frame[..];
    while !rest.is_empty() {
        if Instant::now() >= deadline {
            // Part of a frame went out: the connection is dropped (by the
            // caller), so the server never reads the next frame after a
            // torn one.
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server is not reading",
            ));
        }
        match s.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether the server closed its end. A syslog server sends nothing (RFC
/// 6587 has no replies): a read that ends, or fails, means it is gone.
/// Looked at before each write, so a message is not written into a
/// connection the server already closed, where TCP would take it and
/// lose it.
fn peer_closed(s: &mut impl Stream) -> bool {
    if s.nonblocking(true).is_err() {
        return true;
    }
    let mut buf = [0u8; 256];
    let mut closed = false;
    // Bounded: a server that does send is read a little, then trusted.
    for _ in 0..8 {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    closed || s.nonblocking(false).is_err()
}
