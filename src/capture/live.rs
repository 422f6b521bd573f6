//! Live capture from an interface.
//!
//! The handle runs in non-blocking mode and waits with poll(2) on libpcap's
//! selectable descriptor, with a timeout: libpcap's own read timeout does
//! not fire on an idle link (TPACKET_V3), and the daemon must notice a
//! shutdown request and expire idle flows even when no packet arrives.
//!
//! The ring: without immediate mode (the default) libpcap on Linux uses
//! TPACKET_V3, whose blocks hold frames packed by their captured length
//! and are handed over when full or after [`BLOCK_TIMEOUT`]. Immediate mode
//! uses TPACKET_V2, one fixed slot of about the snaplen per frame: with
//! snaplen 65535 on an interface with segmentation offload (most NICs,
//! veth) a 64 MiB ring holds about a thousand frames, which a burst at
//! 1 Gbit/s fills in a few milliseconds (see `scripts/bench-live.sh`);
//! the same 64 MiB hold some 70,000 frames of 900 bytes in blocks.

use super::{frame_of, link_of, CaptureError, Frame};
use crate::decode::LinkType;
use pcap::{Active, Capture};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// libpcap's capture timeout. Without immediate mode (TPACKET_V3) it is the
/// kernel's block-retire timeout: the longest a frame waits in a partly
/// filled block on a quiet link before medtap can read it. At high rates
/// blocks fill (and are handed over) long before it. 100 ms keeps alerts
/// prompt; shorter would hand over many nearly empty blocks on a quiet link.
pub const BLOCK_TIMEOUT: Duration = Duration::from_millis(100);

/// How to open the interface (from `[capture]` in the config, overridable
/// on the command line).
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interface name.
    pub interface: String,
    /// Promiscuous mode (a SPAN port delivers frames for other MACs).
    pub promiscuous: bool,
    /// Bytes kept per frame.
    pub snaplen: i32,
    /// Kernel ring buffer size in bytes.
    pub buffer_size: i32,
    /// Deliver each packet as it arrives (TPACKET_V2, fixed slots) instead
    /// of in blocks (TPACKET_V3, packed; see the module docs).
    pub immediate_mode: bool,
    /// BPF filter, empty for none.
    pub filter: String,
}

/// Kernel and interface counters from libpcap (cumulative since open).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets the kernel handed to the filter.
    pub received: u64,
    /// Dropped because the kernel buffer was full.
    pub dropped: u64,
    /// Dropped by the interface/driver.
    pub if_dropped: u64,
}

/// An open live capture.
pub struct LiveSource {
    cap: Capture<Active>,
    fd: RawFd,
    link: LinkType,
    name: String,
    /// libpcap's counters are 32-bit and wrap; these keep 64-bit totals.
    last_raw: (u32, u32, u32),
    totals: LiveStats,
}

impl LiveSource {
    /// Opens and activates the interface, applies the filter and switches
    /// to non-blocking mode.
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, CaptureError> {
        if opts.interface.trim().is_empty() {
            return Err(CaptureError::NoInterface);
        }
        let what = opts.interface.clone();
        let open_err = |source: pcap::Error| {
            if permission_denied(&source) {
                CaptureError::Permission {
                    what: what.clone(),
                    source,
                }
            } else {
                CaptureError::Open {
                    what: what.clone(),
                    source: source.into(),
                }
            }
        };
        let setup = |step: &'static str| {
            let what = what.clone();
            move |source| CaptureError::Setup { what, step, source }
        };
        let mut cap = Capture::from_device(opts.interface.as_str())
            .map_err(open_err)?
            .promisc(opts.promiscuous)
            .snaplen(opts.snaplen)
            .buffer_size(opts.buffer_size)
            .immediate_mode(opts.immediate_mode)
            .timeout(BLOCK_TIMEOUT.as_millis() as i32)
            .open()
            .map_err(open_err)?;
        if !opts.filter.trim().is_empty() {
            cap.filter(&opts.filter, true)
                .map_err(setup("BPF filter"))?;
        }
        let cap = cap.setnonblock().map_err(setup("non-blocking mode"))?;
        let link = link_of(&what, cap.get_datalink().0)?;
        let fd = cap.as_raw_fd();
        Ok(LiveSource {
            cap,
            fd,
            link,
            name: what,
            last_raw: (0, 0, 0),
            totals: LiveStats::default(),
        })
    }

    /// The interface's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next frame if one is ready, without waiting; `Ok(None)` if the
    /// ring is empty (then call [`LiveSource::wait`]).
    pub fn try_next(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => Ok(Some(frame_of(p.header, p.data))),
            Err(pcap::Error::TimeoutExpired) => Ok(None),
            Err(source) => Err(CaptureError::Read {
                what: self.name.clone(),
                source: source.into(),
            }),
        }
    }

    /// Waits until packets may be ready or `wait` passes.
    pub fn wait(&self, wait: Duration) {
        poll_readable(self.fd, wait);
    }

    /// Cumulative kernel/interface counters, widened to 64 bits.
    pub fn stats(&mut self) -> Result<LiveStats, CaptureError> {
        let s = self.cap.stats().map_err(|source| CaptureError::Read {
            what: self.name.clone(),
            source: source.into(),
        })?;
        let (r, d, i) = self.last_raw;
        self.totals.received += u64::from(s.received.wrapping_sub(r));
        self.totals.dropped += u64::from(s.dropped.wrapping_sub(d));
        self.totals.if_dropped += u64::from(s.if_dropped.wrapping_sub(i));
        self.last_raw = (s.received, s.dropped, s.if_dropped);
        Ok(self.totals)
    }
}

/// True when libpcap failed for lack of permission. libpcap's status code
/// (PCAP_ERROR_PERM) does not survive the `pcap` crate, so this reads the
/// message (EPERM/EACCES from socket(2), or libpcap's own wording) and, as
/// a second witness, whether CAP_NET_RAW is effective: without it the
/// packet socket, libpcap's first step, cannot be created at all.
fn permission_denied(e: &pcap::Error) -> bool {
    let msg = e.to_string().to_ascii_lowercase();
    msg.contains("not permitted")
        || msg.contains("permission")
        || super::privileges::lacks_net_raw()
}

/// Waits until `fd` is readable or `wait` passes.
fn poll_readable(fd: RawFd, wait: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `pfd` is a valid, initialised pollfd that outlives the call,
    // and we pass a count of exactly one.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n > 0 && pfd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0
}
