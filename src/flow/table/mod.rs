//! The bounded flow table.
//!
//! Slots live in a vector whose capacity is reserved up front, linked in a
//! least-recently-seen list (by index, no pointers) so that eviction takes
//! the oldest flow in O(1) and the timeout sweep walks only flows that have
//! been idle at least the shortest timeout. The hash map and the slot
//! vector never grow past `max_flows`, so once warmed up no packet
//! allocates.

use super::{DirCounters, Direction, EndReason, FlowKey, FlowRecord, FlowState};
use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};
use crate::net::Mac;
use crate::time::{Micros, SECOND};
use std::hash::BuildHasher;
use std::net::IpAddr;

const NIL: u32 = u32::MAX;

/// Flows the index has room for before its first growth.
const INITIAL_INDEX: usize = 4096;

/// Idle timeouts per protocol and TCP state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP before the handshake completes.
    pub tcp_new: Micros,
    /// TCP once established (also half-closed).
    pub tcp_established: Micros,
    /// Grace after FIN from both sides or RST, for trailing ACKs and retransmissions.
    pub tcp_closed: Micros,
    /// UDP.
    pub udp: Micros,
    /// ICMP and ICMPv6.
    pub icmp: Micros,
    /// Any other IP protocol.
    pub other: Micros,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_new: 30 * SECOND,
            tcp_established: 3600 * SECOND,
            tcp_closed: 5 * SECOND,
            udp: 120 * SECOND,
            icmp: 30 * SECOND,
            other: 120 * SECOND,
        }
    }
}

impl Timeouts {
    fn min(&self) -> Micros {
        [
            self.tcp_new,
            self.tcp_established,
            self.tcp_closed,
            self.udp,
            self.icmp,
            self.other,
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }
}

/// What the flow table needs from one decoded packet.
#[derive(Clone, Copy, Debug)]
pub struct FlowPacket {
    /// Capture time.
    pub ts: Micros,
    /// Source address and port (0 for portless protocols).
    pub src: (IpAddr, u16),
    /// Destination address and port.
    pub dst: (IpAddr, u16),
    /// IP protocol number.
    pub proto: u8,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Source MAC, if the link has one.
    pub src_mac: Option<Mac>,
    /// Destination MAC, if the link has one.
    pub dst_mac: Option<Mac>,
    /// Frame length on the wire.
    pub wire_len: u32,
    /// Transport payload length as announced.
    pub payload_len: u32,
    /// TCP flags (TCP only).
    pub tcp_flags: Option<u8>,
    /// ICMP type and code (ICMP only).
    pub icmp: Option<(u8, u8)>,
}

/// Where a packet landed: its flow and direction. Application parsers key
/// their per-flow state on this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRef {
    /// The flow's id.
    pub flow_id: u64,
    /// Slot index in the table (stable while the flow lives).
    pub slot: u32,
    /// True when the packet goes initiator → responder.
    pub to_server: bool,
    /// True for the flow's first packet (the flow was created by it).
    pub new: bool,
}

/// Counters the table keeps; shown by `medtap status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Flows created.
    pub created: u64,
    /// Flows pushed out of a full table.
    pub evicted: u64,
    /// Flows that ended by timeout.
    pub timed_out: u64,
    /// Flows currently in the table.
    pub active: u64,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: FlowKey,
    /// `key`'s hash, so that removing the flow needs no rehash.
    hash: u64,
    rec: FlowRecord,
    /// Initiator is the key's `lo` endpoint.
    initiator_is_lo: bool,
    /// FIN seen toserver / toclient.
    fin: [bool; 2],
    syn_ack_seen: bool,
    /// Last packet time covered by an interim record (`None`: none yet).
    interim_end: Option<Micros>,
    prev: u32,
    next: u32,
}

/// The bounded table of live flows.
pub struct FlowTable {
    /// Slot indexes by key hash; the keys live in the slots. Four bytes a
    /// bucket, and sized to the flows actually open (it grows, never
    /// shrinks): preallocated for `max_flows` it was 2.5 MB of buckets and
    /// control bytes probed at random for ten thousand flows, a cache miss
    /// per lookup (with the keys inline, 25 MB). Growth rehashes from the
    /// hashes kept in the slots; it happens only when the number of open
    /// flows reaches a new high, never in steady state.
    map: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Most recently seen.
    head: u32,
    /// Least recently seen.
    tail: u32,
    max_flows: usize,
    timeouts: Timeouts,
    min_timeout: Micros,
    next_id: u64,
    counters: FlowCounters,
}

impl FlowTable {
    /// A table holding at most `max_flows` (≥ 1) flows; ids start at `first_id`.
    pub fn new(max_flows: usize, timeouts: Timeouts, first_id: u64) -> FlowTable {
        let max_flows = max_flows.max(1);
        FlowTable {
            map: hashbrown::HashTable::with_capacity(max_flows.min(INITIAL_INDEX)),
            hasher: Default::default(),
            slots: Vec::with_capacity(max_flows),
            free: Vec::with_capacity(max_flows),
            head: NIL,
            tail: NIL,
            max_flows,
            timeouts,
            min_timeout: timeouts.min(),
            next_id: first_id,
            counters: FlowCounters::default(),
        }
    }

    /// Current counters.
    pub fn counters(&self) -> FlowCounters {
        FlowCounters {
            active: self.map.len() as u64,
            ..self.counters
        }
    }

    /// Accounts one packet to its flow, creating the flow if needed (and
    /// ending the least recently seen one if the table is full). Ended
    /// flows are passed to `ended`.
    pub fn update(&mut self, p: &FlowPacket, ended: &mut dyn FnMut(u32, FlowRecord)) -> FlowRef {
        let (key, dir) = FlowKey::new(p.src, p.dst, p.proto, p.vlan);
        let flags = p.tcp_flags.unwrap_or(0);
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        let found = self
            .map
            .find(hash, |&i| slots[i as usize].key == key)
            .copied();
        let (idx, new) = match found {
            Some(idx) if self.is_reuse(idx, flags) => {
                self.end(idx, EndReason::Reused, ended);
                (self.create(key, hash, dir, p, ended), true)
            }
            Some(idx) => (idx, false),
            None => (self.create(key, hash, dir, p, ended), true),
        };
        self.touch(idx);
        let slot = &mut self.slots[idx as usize];
        let to_server = (dir == Direction::LoToHi) == slot.initiator_is_lo;
        let d = usize::from(!to_server);
        let c = &mut slot.rec.dirs[d];
        c.pkts += 1;
        c.bytes += u64::from(p.wire_len);
        c.payload_bytes += u64::from(p.payload_len);
        c.tcp_flags |= flags;
        slot.rec.end = slot.rec.end.max(p.ts);
        if slot.rec.src_mac.is_none() || slot.rec.dest_mac.is_none() {
            let (from, to) = if to_server {
                (p.src_mac, p.dst_mac)
            } else {
                (p.dst_mac, p.src_mac)
            };
            slot.rec.src_mac = slot.rec.src_mac.or(from);
            slot.rec.dest_mac = slot.rec.dest_mac.or(to);
        }
        if p.tcp_flags.is_some() {
            advance_tcp(slot, d, flags);
        } else if slot.rec.dirs[0].pkts > 0 && slot.rec.dirs[1].pkts > 0 {
            slot.rec.state = FlowState::Established;
        }
        FlowRef {
            flow_id: slot.rec.flow_id,
            slot: idx,
            to_server,
            new,
        }
    }

    /// Records the application protocol of the flow in `slot`.
    pub fn set_app_proto(&mut self, slot: u32, proto: crate::kinds::AppProto) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.rec.app_proto = Some(proto);
        }
    }

    /// Ends every flow whose idle timeout has passed at `now`.
    pub fn expire(&mut self, now: Micros, ended: &mut dyn FnMut(u32, FlowRecord)) {
        let mut cur = self.tail;
        while cur != NIL {
            let slot = &self.slots[cur as usize];
            let idle = now.saturating_sub(slot.rec.end);
            // The list is ordered by last packet: nothing newer can be due.
            if idle < self.min_timeout {
                break;
            }
            let prev = slot.prev;
            if idle >= self.timeout_of(slot) {
                let reason = match slot.rec.state {
                    FlowState::ClosedFin => EndReason::Fin,
                    FlowState::ClosedRst => EndReason::Rst,
                    _ => EndReason::Timeout,
                };
                if reason == EndReason::Timeout {
                    self.counters.timed_out += 1;
                }
                self.end(cur, reason, ended);
            }
            cur = prev;
        }
    }

    /// Writes an interim record of every flow that started at least
    /// `min_age` before `now` and saw packets since its last interim
    /// record. Walks the whole table: called once per interim period, not
    /// per packet.
    pub fn interim(&mut self, now: Micros, min_age: Micros, out: &mut dyn FnMut(FlowRecord)) {
        let mut cur = self.head;
        while cur != NIL {
            let slot = &mut self.slots[cur as usize];
            let next = slot.next;
            let old_enough = now.saturating_sub(slot.rec.start) >= min_age;
            if old_enough && slot.interim_end != Some(slot.rec.end) {
                slot.interim_end = Some(slot.rec.end);
                out(FlowRecord {
                    reason: EndReason::Interim,
                    ..slot.rec
                });
            }
            cur = next;
        }
    }

    /// Ends every flow (end of input, shutdown).
    pub fn drain(&mut self, ended: &mut dyn FnMut(u32, FlowRecord)) {
        while self.tail != NIL {
            self.end(self.tail, EndReason::Shutdown, ended);
        }
    }

    fn timeout_of(&self, slot: &Slot) -> Micros {
        let t = &self.timeouts;
        match (slot.rec.proto, slot.rec.state) {
            (6, FlowState::New) => t.tcp_new,
            (6, FlowState::Established) => t.tcp_established,
            (6, FlowState::ClosedFin | FlowState::ClosedRst) => t.tcp_closed,
            (17, _) => t.udp,
            (1 | 58, _) => t.icmp,
            _ => t.other,
        }
    }

    /// A bare SYN on a closed TCP flow starts a new connection on the same
    /// 5-tuple (as tshark starts a new stream).
    fn is_reuse(&self, idx: u32, flags: u8) -> bool {
        flags & (SYN | ACK) == SYN
            && matches!(
                self.slots[idx as usize].rec.state,
                FlowState::ClosedFin | FlowState::ClosedRst
            )
    }

    fn create(
        &mut self,
        key: FlowKey,
        hash: u64,
        dir: Direction,
        p: &FlowPacket,
        ended: &mut dyn FnMut(u32, FlowRecord),
    ) -> u32 {
        if self.map.len() >= self.max_flows {
            self.counters.evicted += 1;
            self.end(self.tail, EndReason::Evicted, ended);
        }
        let sender_is_initiator = sender_is_initiator(p);
        let initiator_is_lo = (dir == Direction::LoToHi) == sender_is_initiator;
        let (mut src, mut dst) = if initiator_is_lo {
            (key.lo, key.hi)
        } else {
            (key.hi, key.lo)
        };
        if p.icmp.is_some() {
            // ICMP keys on a pseudo-port (see the pipeline); records show none.
            (src.1, dst.1) = (0, 0);
        }
        let rec = FlowRecord {
            flow_id: self.next_id,
            start: p.ts,
            end: p.ts,
            proto: p.proto,
            src_ip: src.0,
            src_port: src.1,
            dest_ip: dst.0,
            dest_port: dst.1,
            icmp: p.icmp,
            vlan: p.vlan,
            src_mac: None,
            dest_mac: None,
            dirs: [DirCounters::default(); 2],
            state: FlowState::New,
            reason: EndReason::Shutdown,
            app_proto: None,
        };
        self.next_id += 1;
        self.counters.created += 1;
        let slot = Slot {
            key,
            hash,
            rec,
            initiator_is_lo,
            fin: [false; 2],
            syn_ack_seen: false,
            interim_end: None,
            prev: NIL,
            next: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        // Growing rehashes from the stored hashes.
        self.map
            .insert_unique(hash, idx, |&i| slots[i as usize].hash);
        self.link_front(idx);
        idx
    }

    fn end(&mut self, idx: u32, reason: EndReason, ended: &mut dyn FnMut(u32, FlowRecord)) {
        self.unlink(idx);
        let slot = &mut self.slots[idx as usize];
        if let Ok(entry) = self.map.find_entry(slot.hash, |&i| i == idx) {
            entry.remove();
        }
        slot.rec.reason = reason;
        self.free.push(idx);
        ended(idx, slot.rec);
    }

    fn touch(&mut self, idx: u32) {
        if self.head != idx {
            self.unlink(idx);
            self.link_front(idx);
        }
    }

    fn link_front(&mut self, idx: u32) {
        let old_head = self.head;
        {
            let s = &mut self.slots[idx as usize];
            s.prev = NIL;
            s.next = old_head;
        }
        if old_head != NIL {
            self.slots[old_head as usize].prev = idx;
        } else {
            self.tail = idx;
        }
        self.head = idx;
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.prev, s.next)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else if self.head == idx {
            self.head = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else if self.tail == idx {
            self.tail = prev;
        }
        let s = &mut self.slots[idx as usize];
        s.prev = NIL;
        s.next = NIL;
    }
}

/// Decides whether the sender of a flow's first packet started it: the SYN
/// sender does; the receiver of a SYN-ACK did; otherwise the side with the
/// higher (ephemeral) port is the client; equal ports: the sender.
fn sender_is_initiator(p: &FlowPacket) -> bool {
    if let Some(flags) = p.tcp_flags {
        if flags & SYN != 0 {
            return flags & ACK == 0;
        }
    }
    p.src.1 >= p.dst.1
}

fn advance_tcp(slot: &mut Slot, d: usize, flags: u8) {
    let rec = &mut slot.rec;
    if flags & RST != 0 {
        rec.state = FlowState::ClosedRst;
        return;
    }
    if flags & FIN != 0 {
        slot.fin[d] = true;
        if slot.fin[0] && slot.fin[1] {
            rec.state = FlowState::ClosedFin;
            return;
        }
    }
    if rec.state != FlowState::New {
        return;
    }
    if flags & (SYN | ACK) == SYN | ACK && d == 1 {
        slot.syn_ack_seen = true;
    } else if flags & (SYN | ACK) == ACK && d == 0 && slot.syn_ack_seen {
        rec.state = FlowState::Established;
    } else if rec.dirs[0].tcp_flags & SYN == 0
        && rec.dirs[1].tcp_flags & SYN == 0
        && rec.dirs[0].pkts > 0
        && rec.dirs[1].pkts > 0
    {
        // Joined mid-stream: both sides talking without a handshake seen.
        rec.state = FlowState::Established;
    }
}

#[cfg(test)]
mod tests;
