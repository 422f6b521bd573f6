//! The probe buffer: a flow's first bytes from the side that spoke first,
//! held until detection decides, for the few flows whose first segment is
//! too short to tell.

use crate::proto::detect::MAX_PROBE_LEN;

/// One side's bytes held for detection, in sequence order from the first
/// one.
pub(super) struct Probe {
    /// The bytes are the client's (else the server's).
    pub to_server: bool,
    /// Sequence number of the first held byte.
    pub first_seq: u32,
    /// Sequence number the next in-order client segment starts at.
    next_seq: u32,
    len: usize,
    buf: [u8; MAX_PROBE_LEN],
}

impl Probe {
    /// An empty probe for the client's (`to_server`) or the server's stream
    /// starting at `seq`.
    pub fn new(seq: u32, to_server: bool) -> Box<Probe> {
        Box::new(Probe {
            to_server,
            first_seq: seq,
            next_seq: seq,
            len: 0,
            buf: [0; MAX_PROBE_LEN],
        })
    }

    /// Appends an in-order segment's payload (as much as fits) and returns
    /// how many bytes were kept; `None` for a segment out of order
    /// (a retransmission or reordering before detection: the bytes held
    /// are kept as they are).
    pub fn push(&mut self, seq: u32, payload: &[u8]) -> Option<usize> {
        if seq != self.next_seq {
            return None;
        }
        let n = payload.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&payload[..n]);
        self.len += n;
        self.next_seq = self.next_seq.wrapping_add(payload.len() as u32);
        Some(n)
    }

    /// The bytes held.
    pub fn held(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_in_order_bytes_up_to_the_buffer() {
        let mut p = Probe::new(100, true);
        assert_eq!(p.push(100, b"ab"), Some(2));
        assert_eq!(p.push(101, b"zz"), None, "out of order");
        let long = [7u8; MAX_PROBE_LEN + 5];
        assert_eq!(p.push(102, &long), Some(MAX_PROBE_LEN - 2));
        assert_eq!(p.held().len(), MAX_PROBE_LEN);
        assert_eq!(&p.held()[..2], b"ab");
        assert_eq!(p.first_seq, 100);
    }
}
