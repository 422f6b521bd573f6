//! The sender of each direction of each live flow, as last seen: lets the
//! device table skip the frames of a flow that only repeat what it knows.
//!
//! Indexed by flow-table slot, so a lookup is a vector index. An entry
//! belongs to a flow id: a slot reused by a new flow starts afresh.

use crate::net::Mac;
use crate::time::Micros;
use std::net::IpAddr;

/// Who sent one direction of a flow, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The flow the entry belongs to.
    pub flow_id: u64,
    /// Source MAC of the direction's frames.
    pub mac: Mac,
    /// Source address of the direction's packets.
    pub ip: IpAddr,
    /// Outer VLAN id of its frames.
    pub vlan: Option<u16>,
    /// Latest frame.
    pub last: Micros,
    /// `last` as it was when last handed to the device table.
    pub settled: Micros,
}

impl Sender {
    /// Same flow, same source MAC: the frame teaches nothing new.
    pub fn same(&self, other: &Sender) -> bool {
        self.flow_id == other.flow_id && self.mac == other.mac
    }
}

/// Both directions' senders of every flow-table slot in use.
#[derive(Debug, Default)]
pub struct FlowSenders {
    slots: Vec<[Option<Sender>; 2]>,
}

impl FlowSenders {
    /// Room for a flow table of `max_flows` slots, reserved (not touched)
    /// so that the hot path never reallocates it.
    pub fn with_capacity(max_flows: usize) -> FlowSenders {
        FlowSenders {
            slots: Vec::with_capacity(max_flows),
        }
    }

    /// The entry of `slot`'s direction (`to_server`: initiator → responder).
    /// Grows with the flow table's slots (which are handed out densely from
    /// 0), then never again.
    pub fn get_mut(&mut self, slot: u32, to_server: bool) -> &mut Option<Sender> {
        let i = slot as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, [None; 2]);
        }
        &mut self.slots[i][usize::from(!to_server)]
    }

    /// Hands every entry whose `last` moved since it was last settled to
    /// `settle`.
    pub fn settle_all(&mut self, settle: &mut dyn FnMut(&Sender)) {
        for s in self.slots.iter_mut().flatten().flatten() {
            if s.last > s.settled {
                settle(s);
                s.settled = s.last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(flow_id: u64, mac: u8, last: Micros) -> Sender {
        Sender {
            flow_id,
            mac: Mac([2, 0, 0, 0, 0, mac]),
            ip: "10.0.0.1".parse().unwrap(),
            vlan: None,
            last,
            settled: last,
        }
    }

    #[test]
    fn entries_are_per_slot_and_direction_and_settle_once() {
        let mut f = FlowSenders::default();
        assert!(f.get_mut(3, true).is_none());
        *f.get_mut(3, true) = Some(sender(7, 1, 100));
        *f.get_mut(3, false) = Some(sender(7, 2, 100));
        assert!(f.get_mut(0, true).is_none(), "other slots stay empty");
        f.get_mut(3, true).as_mut().unwrap().last = 250;
        let mut settled = Vec::new();
        f.settle_all(&mut |s| settled.push((s.mac.0[5], s.last)));
        assert_eq!(settled, vec![(1, 250)], "only the direction that moved");
        settled.clear();
        f.settle_all(&mut |s| settled.push((s.mac.0[5], s.last)));
        assert!(settled.is_empty(), "nothing moved since");
    }

    #[test]
    fn same_means_same_flow_and_mac() {
        let a = sender(7, 1, 100);
        assert!(a.same(&sender(7, 1, 900)));
        assert!(!a.same(&sender(8, 1, 100)), "slot reused by a new flow");
        assert!(!a.same(&sender(7, 2, 100)), "new MAC on the direction");
    }
}
