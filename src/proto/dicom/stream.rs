//! Incremental parsing of one direction of a DICOM association.
//!
//! Bytes arrive in whatever pieces TCP delivers. The parser keeps only what
//! a unit needs: the 6-byte PDU and PDV headers, association PDUs (capped
//! at [`MAX_ASSOCIATE_PDU`]) and command sets (capped at [`MAX_COMMAND`]).
//! When such a unit lies whole inside one delivered slice it is handed on
//! in place; only units that straddle segments are copied. Data PDVs —
//! images, reports, everything that may carry patient data — are counted
//! and skipped, never buffered or parsed.

use super::pdu::{self, pdu_type, PDU_HEADER_LEN};

/// Largest A-ASSOCIATE/RELEASE/ABORT PDU buffered (the biggest real
/// A-ASSOCIATE-RQ seen, with 120+ presentation contexts, is ~16 KiB).
pub const MAX_ASSOCIATE_PDU: u32 = 256 * 1024;
/// Largest command set buffered (real ones are under 300 bytes).
pub const MAX_COMMAND: usize = 64 * 1024;
/// A PDU longer than this is not DICOM any more: parsing stops.
pub const MAX_PDU_HARD: u32 = 128 * 1024 * 1024;

/// Problems the parser reports (the association turns them into anomalies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// PDU type outside 1..=7.
    UnknownPduType(u8),
    /// A PDU past [`MAX_PDU_HARD`], or an association PDU past
    /// [`MAX_ASSOCIATE_PDU`]: skipped by count, not buffered.
    OverHardCap(u32),
    /// A P-DATA PDV whose length does not fit its PDU.
    MalformedPdv,
    /// A command set longer than [`MAX_COMMAND`].
    CommandTooLong,
    /// Bytes were lost where the parser cannot skip them; parsing stopped.
    LostSync,
}

/// What the parser hands on.
pub trait Handler {
    /// Every PDU header, before its body.
    fn pdu_start(&mut self, pdu_type: u8, len: u32);
    /// A complete association-control PDU body (types 1, 2, 3, 5, 6, 7).
    fn control(&mut self, pdu_type: u8, body: &[u8]);
    /// A complete command set from command PDV fragments.
    fn command(&mut self, context_id: u8, bytes: &[u8]);
    /// Data PDV bytes (counted only); `lost` when they fell in a capture gap.
    fn data(&mut self, context_id: u8, len: u32, lost: bool);
    /// A problem.
    fn problem(&mut self, p: Problem);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum State {
    #[default]
    PduHeader,
    /// Copying a straddling control PDU into `buf`.
    Control,
    /// Skipping the rest of a PDU.
    Skip,
    PdvHeader,
    PdvBody,
    /// Stopped after losing sync.
    Dead,
}

/// Parser state for one direction.
#[derive(Debug, Default)]
pub struct DirParser {
    state: State,
    hdr: [u8; PDU_HEADER_LEN],
    hdr_have: usize,
    pdu_type: u8,
    pdu_left: u32,
    pdv_hdr: [u8; 6],
    pdv_have: usize,
    pdv_left: u32,
    pdv_ctx: u8,
    pdv_mch: u8,
    buf: Vec<u8>,
    cmd: Vec<u8>,
}

impl DirParser {
    /// True once parsing stopped for good.
    pub fn is_dead(&self) -> bool {
        self.state == State::Dead
    }

    /// Clears the state for reuse (keeps buffer capacity).
    pub fn reset(&mut self) {
        let (buf, cmd) = (std::mem::take(&mut self.buf), std::mem::take(&mut self.cmd));
        *self = DirParser {
            buf,
            cmd,
            ..DirParser::default()
        };
        self.buf.clear();
        self.cmd.clear();
    }

    /// Consumes in-order bytes.
    pub fn feed(&mut self, mut data: &[u8], h: &mut dyn Handler) {
        while !data.is_empty() {
            match self.state {
                State::Dead => return,
                State::PduHeader => {
                    let n = (PDU_HEADER_LEN - self.hdr_have).min(data.len());
                    self.hdr[self.hdr_have..self.hdr_have + n].copy_from_slice(&data[..n]);
                    self.hdr_have += n;
                    data = &data[n..];
                    if self.hdr_have == PDU_HEADER_LEN {
                        self.hdr_have = 0;
                        self.start_pdu(&mut data, h);
                    }
                }
                State::Control => {
                    let n = (self.pdu_left as usize).min(data.len());
                    self.buf.extend_from_slice(&data[..n]);
                    self.pdu_left -= n as u32;
                    data = &data[n..];
                    if self.pdu_left == 0 {
                        h.control(self.pdu_type, &self.buf);
                        self.buf.clear();
                        self.state = State::PduHeader;
                    }
                }
                State::Skip => {
                    let n = (self.pdu_left as usize).min(data.len());
                    self.pdu_left -= n as u32;
                    data = &data[n..];
                    if self.pdu_left == 0 {
                        self.state = State::PduHeader;
                    }
                }
                State::PdvHeader => {
                    let n = (6 - self.pdv_have)
                        .min(data.len())
                        .min(self.pdu_left as usize);
                    self.pdv_hdr[self.pdv_have..self.pdv_have + n].copy_from_slice(&data[..n]);
                    self.pdv_have += n;
                    self.pdu_left -= n as u32;
                    data = &data[n..];
                    if self.pdv_have == 6 {
                        self.pdv_have = 0;
                        self.start_pdv(h);
                    } else if self.pdu_left == 0 {
                        // The PDU ended inside a PDV header.
                        h.problem(Problem::MalformedPdv);
                        self.pdv_have = 0;
                        self.state = State::PduHeader;
                    }
                }
                State::PdvBody => {
                    let n = (self.pdv_left as usize).min(data.len());
                    let last_piece = n as u32 == self.pdv_left;
                    self.pdv_left -= n as u32;
                    self.pdu_left -= n as u32;
                    let piece = &data[..n];
                    data = &data[n..];
                    if self.pdv_mch & 1 == 1 {
                        self.command_piece(piece, last_piece, h);
                    } else if n > 0 {
                        h.data(self.pdv_ctx, n as u32, false);
                    }
                    if last_piece {
                        self.state = if self.pdu_left == 0 {
                            State::PduHeader
                        } else {
                            State::PdvHeader
                        };
                    }
                }
            }
        }
    }

    /// `len` bytes were lost. Data inside a PDV or a skipped PDU can be
    /// skipped by count; anywhere else the stream's framing is lost.
    pub fn gap(&mut self, len: u32, h: &mut dyn Handler) {
        match self.state {
            State::Dead => {}
            State::Skip if len <= self.pdu_left => {
                self.pdu_left -= len;
                if self.pdu_left == 0 {
                    self.state = State::PduHeader;
                }
            }
            State::PdvBody if self.pdv_mch & 1 == 0 && len <= self.pdv_left => {
                self.pdv_left -= len;
                self.pdu_left -= len;
                h.data(self.pdv_ctx, len, true);
                if self.pdv_left == 0 {
                    self.state = if self.pdu_left == 0 {
                        State::PduHeader
                    } else {
                        State::PdvHeader
                    };
                }
            }
            _ => {
                h.problem(Problem::LostSync);
                self.state = State::Dead;
            }
        }
    }

    fn start_pdu(&mut self, data: &mut &[u8], h: &mut dyn Handler) {
        let (t, len) = pdu::header(&self.hdr);
        self.pdu_type = t;
        self.pdu_left = len;
        h.pdu_start(t, len);
        if len > MAX_PDU_HARD {
            h.problem(Problem::OverHardCap(len));
            self.state = State::Dead;
            return;
        }
        match t {
            pdu_type::P_DATA_TF => {
                self.state = if len == 0 {
                    State::PduHeader
                } else {
                    State::PdvHeader
                };
            }
            pdu_type::ASSOCIATE_RQ..=pdu_type::ABORT => {
                if len > MAX_ASSOCIATE_PDU {
                    h.problem(Problem::OverHardCap(len));
                    self.state = State::Skip;
                } else if data.len() >= len as usize {
                    // Whole PDU in this slice: no copy.
                    h.control(t, &data[..len as usize]);
                    *data = &data[len as usize..];
                    self.state = State::PduHeader;
                } else {
                    self.buf.clear();
                    self.state = State::Control;
                }
            }
            _ => {
                h.problem(Problem::UnknownPduType(t));
                self.state = if len == 0 {
                    State::PduHeader
                } else {
                    State::Skip
                };
            }
        }
    }

    fn start_pdv(&mut self, h: &mut dyn Handler) {
        let p = &self.pdv_hdr;
        let len = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
        // The item length counts the context id and control header (2 bytes).
        if len < 2 || len - 2 > self.pdu_left {
            h.problem(Problem::MalformedPdv);
            self.state = if self.pdu_left == 0 {
                State::PduHeader
            } else {
                State::Skip
            };
            return;
        }
        self.pdv_ctx = p[4];
        self.pdv_mch = p[5];
        self.pdv_left = len - 2;
        if self.pdv_left == 0 {
            if self.pdv_mch & 1 == 1 {
                self.command_piece(&[], true, h);
            }
            self.state = if self.pdu_left == 0 {
                State::PduHeader
            } else {
                State::PdvHeader
            };
        } else {
            self.state = State::PdvBody;
        }
    }

    /// A piece of a command PDV; `pdv_done` when it ends the PDV.
    fn command_piece(&mut self, piece: &[u8], pdv_done: bool, h: &mut dyn Handler) {
        let last_fragment = pdv_done && self.pdv_mch & 2 == 2;
        if self.cmd.is_empty() && last_fragment {
            // Whole command set in one piece: no copy.
            h.command(self.pdv_ctx, piece);
            return;
        }
        if self.cmd.len() + piece.len() > MAX_COMMAND {
            h.problem(Problem::CommandTooLong);
            self.cmd.clear();
            // Stay framed: the rest of the PDV is skipped as data.
            self.pdv_mch &= !1;
            return;
        }
        self.cmd.extend_from_slice(piece);
        if last_fragment {
            h.command(self.pdv_ctx, &self.cmd);
            self.cmd.clear();
        }
    }
}
