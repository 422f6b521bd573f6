//! Framing of one direction of an MQTT connection.
//!
//! Every packet is a fixed header byte (type and flags), a remaining length
//! of 1 to 4 bytes (7 bits each, little end first), then that many bytes.
//! Bytes arrive in whatever pieces TCP delivers. The parser hands a packet
//! on in place when it lies whole in the delivered slice and copies it only
//! when it straddles slices. Two packet types are read as a *head* followed
//! by a *tail* that is never copied:
//!
//! * PUBLISH: the head is the topic, packet id and v5 properties; the tail
//!   is the payload, skipped by count however large.
//! * CONNECT: the head ends with the will topic (or the client id); the tail
//!   is the will message, user name and password: their 2-byte lengths are
//!   checked against the packet, their bytes skipped by count.
//!
//! The head's length is not known up front: the handler reads it from a
//! prefix and answers "need `n` bytes" until the prefix holds it all.

/// Largest packet (or PUBLISH/CONNECT head) buffered and parsed; a bigger
/// one is reported and skipped by count. Real control packets are far
/// smaller: a SUBSCRIBE with a few hundred filters is a few KiB.
pub const MAX_PACKET: u32 = 64 * 1024;

/// How the handler wants a packet's body read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Skip the body by count (reserved packet types).
    Skip,
    /// Hand the whole body to [`Handler::whole`] (it is capped at [`MAX_PACKET`]).
    Whole,
    /// Hand growing prefixes to [`Handler::head`] until it has the head.
    Head,
}

/// The handler's answer to a prefix of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The prefix is too short: the head is at least this long (more than
    /// the prefix, at most the remaining length and at most [`MAX_PACKET`]).
    Need(u32),
    /// The head was `head` bytes and was handled; then come `fields`
    /// length-prefixed fields to check and skip, then any further bytes are
    /// skipped. (A head that does not parse is reported by the handler and
    /// answered with `Done { head: 0, fields: 0 }`: the packet is skipped.)
    Done {
        /// Length of the head.
        head: u32,
        /// Length-prefixed fields that follow.
        fields: u8,
    },
}

/// Problems found by the framing itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A remaining length whose 4th byte has the continuation bit: framing
    /// is lost, this direction stops.
    MalformedRemainingLength,
    /// A non-PUBLISH/CONNECT packet over [`MAX_PACKET`]: skipped by count.
    OverHardCap,
    /// A tail field (will message, user name, password) whose length runs
    /// past the packet, or that is missing at the end of the packet.
    TailFieldPastEnd,
    /// Bytes were lost where they cannot be skipped by count: this
    /// direction stops.
    LostSync,
    /// Bytes were lost before the first byte of this direction (the capture
    /// started mid-stream): the next byte is taken as a packet start, as
    /// Wireshark and Suricata do when they pick up a connection.
    StartLost,
}

/// What the framing hands on.
pub trait Handler {
    /// A fixed header: the first byte and the remaining length.
    fn header(&mut self, first: u8, remaining: u32) -> Plan;
    /// A complete body of a packet read with [`Plan::Whole`].
    fn whole(&mut self, first: u8, body: &[u8]);
    /// A prefix of a body read with [`Plan::Head`]. Must have no effect
    /// when it answers [`Step::Need`].
    fn head(&mut self, first: u8, prefix: &[u8], remaining: u32) -> Step;
    /// A problem.
    fn problem(&mut self, p: Problem);
    /// The current packet's last byte was read or skipped: it arrived whole
    /// (bytes lost inside it and skipped by count included).
    fn end(&mut self);
    /// The stream ended inside the packet whose fixed header byte is
    /// `first` (the capture stopped, or the flow ended, mid-packet).
    fn cut(&mut self, first: u8);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum State {
    /// Reading a fixed header.
    #[default]
    Header,
    /// Copying a straddling whole body into `buf`.
    Whole,
    /// Copying a straddling head into `buf` up to `need` bytes.
    Head,
    /// After the head: tail fields, then bytes skipped to the packet's end.
    Tail,
    /// Stopped after losing framing.
    Dead,
}

/// Parser state for one direction.
#[derive(Debug, Default)]
pub struct DirParser {
    state: State,
    /// A byte of this direction was seen.
    seen: bool,
    /// Fixed header bytes read for the current packet (0: none yet).
    hdr_have: u8,
    /// The fixed header's first byte.
    first: u8,
    /// The remaining length (being accumulated while in `Header`).
    remaining: u32,
    /// Bytes of the current packet not yet consumed (copied into `buf`
    /// counts as consumed).
    left: u32,
    /// `Head`: bytes the head needs at least.
    need: u32,
    /// `Tail`: length-prefixed fields still to come.
    fields: u8,
    /// `Tail`: bytes of a field length read so far (0 or 1) and the first one.
    len_have: u8,
    len_hi: u8,
    /// `Tail`: bytes of the current field still to skip.
    field_left: u32,
    /// Straddling packets or heads (capacity kept across packets and flows).
    buf: Vec<u8>,
}

impl DirParser {
    /// True once parsing stopped for good.
    pub fn is_dead(&self) -> bool {
        self.state == State::Dead
    }

    /// Clears the state for reuse (keeps the buffer's capacity).
    pub fn reset(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        scrub(&mut buf);
        *self = DirParser {
            buf,
            ..DirParser::default()
        };
    }

    /// Consumes in-order bytes.
    pub fn feed(&mut self, mut data: &[u8], h: &mut dyn Handler) {
        self.seen |= !data.is_empty();
        while let Some(&b) = data.first() {
            match self.state {
                State::Dead => return,
                State::Header => {
                    data = &data[1..];
                    if self.hdr_have == 0 {
                        self.first = b;
                        self.remaining = 0;
                        self.hdr_have = 1;
                        continue;
                    }
                    let i = u32::from(self.hdr_have - 1);
                    self.remaining |= u32::from(b & 0x7f) << (7 * i);
                    if b & 0x80 == 0 {
                        self.hdr_have = 0;
                        self.start(&mut data, h);
                    } else if i == 3 {
                        h.problem(Problem::MalformedRemainingLength);
                        self.state = State::Dead;
                        return;
                    } else {
                        self.hdr_have += 1;
                    }
                }
                State::Whole => {
                    let n = self.take_into_buf(&mut data, self.left);
                    self.left -= n;
                    if self.left == 0 {
                        h.whole(self.first, &self.buf);
                        scrub(&mut self.buf);
                        self.end_packet(h);
                    }
                }
                State::Head => {
                    let want = self.need.saturating_sub(self.buf.len() as u32);
                    let n = self.take_into_buf(&mut data, want);
                    self.left -= n;
                    if self.buf.len() as u32 >= self.need {
                        let buf = std::mem::take(&mut self.buf);
                        let step = h.head(self.first, &buf, self.remaining);
                        self.buf = buf;
                        self.head_step(step, h);
                    }
                }
                State::Tail => self.tail(&mut data, h),
            }
        }
    }

    /// `len` bytes were lost. Inside a skipped payload or tail field they
    /// are skipped by count; before the direction's first byte they only
    /// mean a mid-stream start; anywhere else framing is lost.
    pub fn gap(&mut self, len: u32, h: &mut dyn Handler) {
        if len == 0 || self.state == State::Dead {
            return;
        }
        if !self.seen {
            h.problem(Problem::StartLost);
            return;
        }
        let skippable = self.state == State::Tail
            && if self.field_left > 0 {
                len <= self.field_left
            } else {
                self.fields == 0 && self.len_have == 0 && len <= self.left
            };
        if skippable {
            self.field_left = self.field_left.saturating_sub(len);
            self.left -= len;
            if self.left == 0 {
                self.end_packet(h);
            }
        } else {
            h.problem(Problem::LostSync);
            self.state = State::Dead;
            scrub(&mut self.buf);
        }
    }

    /// The stream ended: a packet begun and not finished (fixed header
    /// included) is handed to [`Handler::cut`].
    pub fn finish(&mut self, h: &mut dyn Handler) {
        let inside = match self.state {
            State::Dead => false,
            State::Header => self.hdr_have > 0,
            State::Whole | State::Head | State::Tail => true,
        };
        if inside {
            h.cut(self.first);
            // At a packet boundary again: a second call reports nothing.
            self.reset();
        }
    }

    /// Copies up to `want` bytes of `data` into `buf`; returns how many.
    fn take_into_buf(&mut self, data: &mut &[u8], want: u32) -> u32 {
        let n = (want as usize).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        *data = &data[n..];
        n as u32
    }

    /// A fixed header is complete: decides how to read the body.
    fn start(&mut self, data: &mut &[u8], h: &mut dyn Handler) {
        self.left = self.remaining;
        self.fields = 0;
        self.len_have = 0;
        self.field_left = 0;
        let plan = h.header(self.first, self.remaining);
        let avail = data.len().min(self.remaining as usize);
        match plan {
            Plan::Skip => self.state = State::Tail,
            Plan::Whole if self.remaining > MAX_PACKET => {
                h.problem(Problem::OverHardCap);
                self.state = State::Tail;
            }
            Plan::Whole if avail == self.remaining as usize => {
                // Whole packet in this slice: no copy.
                h.whole(self.first, &data[..avail]);
                *data = &data[avail..];
                self.left = 0;
            }
            Plan::Whole => {
                self.buf.clear();
                self.state = State::Whole;
                return;
            }
            Plan::Head => {
                let step = h.head(self.first, &data[..avail], self.remaining);
                match step {
                    Step::Done { head, fields } => {
                        // The head in this slice: no copy.
                        let head = head.min(avail as u32);
                        *data = &data[head as usize..];
                        self.left -= head;
                        self.fields = fields;
                        self.state = State::Tail;
                    }
                    Step::Need(n) if self.need_is_sane(n, avail as u32) => {
                        self.buf.clear();
                        self.take_into_buf(data, avail as u32);
                        self.left -= avail as u32;
                        self.need = n;
                        self.state = State::Head;
                        return;
                    }
                    Step::Need(_) => self.state = State::Tail,
                }
            }
        }
        if self.left == 0 {
            self.end_packet(h);
        }
    }

    /// A handler's answer must ask for more than it had, within the packet
    /// and the cap; anything else would loop or grow without bound.
    fn need_is_sane(&self, n: u32, have: u32) -> bool {
        n > have && n <= self.remaining && n <= MAX_PACKET
    }

    /// The handler's answer to a buffered head.
    fn head_step(&mut self, step: Step, h: &mut dyn Handler) {
        let have = self.buf.len() as u32;
        match step {
            Step::Need(n) if self.need_is_sane(n, have) => self.need = n,
            Step::Need(_) => {
                scrub(&mut self.buf);
                self.state = State::Tail;
                if self.left == 0 {
                    self.end_packet(h);
                }
            }
            Step::Done { head, fields } => {
                // Bytes buffered past the head belong to the tail.
                let buf = std::mem::take(&mut self.buf);
                let head = (head as usize).min(buf.len());
                self.left += (buf.len() - head) as u32;
                self.fields = fields;
                self.state = State::Tail;
                let mut extra = &buf[head..];
                while !extra.is_empty() && self.state == State::Tail {
                    self.tail(&mut extra, h);
                }
                self.buf = buf;
                scrub(&mut self.buf);
                if self.state == State::Tail && self.left == 0 {
                    self.end_packet(h);
                }
            }
        }
    }

    /// Tail fields, then skipping to the packet's end.
    fn tail(&mut self, data: &mut &[u8], h: &mut dyn Handler) {
        while !data.is_empty() && self.left > 0 {
            if self.field_left > 0 || self.fields == 0 {
                let want = if self.field_left > 0 {
                    self.field_left
                } else {
                    self.left
                };
                let n = (want as usize).min(data.len());
                *data = &data[n..];
                self.left -= n as u32;
                self.field_left = self.field_left.saturating_sub(n as u32);
                continue;
            }
            let b = data[0];
            *data = &data[1..];
            self.left -= 1;
            if self.len_have == 0 {
                self.len_hi = b;
                self.len_have = 1;
                continue;
            }
            self.len_have = 0;
            self.fields -= 1;
            let len = u32::from(u16::from_be_bytes([self.len_hi, b]));
            if len > self.left {
                h.problem(Problem::TailFieldPastEnd);
                self.fields = 0;
            } else {
                self.field_left = len;
            }
        }
        if self.left == 0 {
            self.end_packet(h);
        }
    }

    /// The current packet was consumed.
    fn end_packet(&mut self, h: &mut dyn Handler) {
        if self.state == State::Tail && (self.fields > 0 || self.len_have > 0) {
            h.problem(Problem::TailFieldPastEnd);
        }
        self.state = State::Header;
        self.hdr_have = 0;
        self.fields = 0;
        self.len_have = 0;
        self.field_left = 0;
        h.end();
    }
}

/// Overwrites and empties a buffer that may have held a straddling packet
/// (a CONNECT's properties, an AUTH's data): nothing outlives its packet.
fn scrub(buf: &mut Vec<u8>) {
    buf.fill(0);
    buf.clear();
}
