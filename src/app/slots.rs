//! Per-flow application state, indexed by flow table slot, and the pools
//! (one per parsed protocol) that recycle parser states between flows:
//! once warmed up, a new connection allocates nothing.

use super::parsers::Parsers;
use super::probe::Probe;
use crate::flow::reassembly::Stream;
use crate::kinds::{AnomalySet, AppProto};

/// A parsed TCP flow: its two reassembly streams and its conversation.
#[derive(Debug)]
pub(super) struct TcpApp {
    /// The protocol; `parsers` holds its conversation.
    pub proto: AppProto,
    /// Client → server, server → client.
    pub streams: [Stream; 2],
    /// `proto`'s conversation.
    pub parsers: Parsers,
    /// Anomaly kinds already reported for this flow.
    pub reported: AnomalySet,
    /// The flow was counted as abandoned.
    pub dead_counted: bool,
}

/// What the application layer knows about one flow.
pub(super) enum Slot {
    /// Nothing seen yet.
    Fresh,
    /// Detection needs more bytes than the first segment had (from the
    /// side that spoke first).
    Probing(Box<Probe>),
    /// The server spoke first and its bytes told nothing: the client's
    /// first bytes decide.
    AwaitClient,
    /// Not an application medtap parses (or not TCP).
    Done,
    /// Detected and being parsed.
    Parsing(Box<TcpApp>),
}

/// Every slot's state and the pools of parser states.
pub(super) struct Slots {
    slots: Vec<Slot>,
    /// Per parsed protocol ([`Parsers::pool_of`]). Boxed so that moving a
    /// state between a pool and a slot moves a pointer.
    #[allow(clippy::vec_box)]
    pools: [Vec<Box<TcpApp>>; Parsers::COUNT],
}

impl Slots {
    /// Room for a flow table of `max_flows` slots.
    pub fn new(max_flows: usize) -> Slots {
        Slots {
            slots: Vec::with_capacity(max_flows),
            pools: Default::default(),
        }
    }

    /// Takes slot `i`'s state out for an update (put it back with
    /// [`Slots::put`]).
    pub fn take(&mut self, i: usize) -> Slot {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || Slot::Fresh);
        }
        std::mem::replace(&mut self.slots[i], Slot::Done)
    }

    /// Puts slot `i`'s state back.
    pub fn put(&mut self, i: usize, slot: Slot) {
        self.slots[i] = slot;
    }

    /// The flow in slot `i` ended: the slot is fresh again; returns its
    /// parser state, if it had one.
    pub fn end(&mut self, i: usize) -> Option<Box<TcpApp>> {
        let s = self.slots.get_mut(i)?;
        match std::mem::replace(s, Slot::Fresh) {
            Slot::Parsing(app) => Some(app),
            _ => None,
        }
    }

    /// A state for a new flow of `proto` (from the pool when it has one);
    /// `None` when `proto` is labelled but not parsed.
    pub fn state(&mut self, proto: AppProto) -> Option<Box<TcpApp>> {
        let pool = &mut self.pools[Parsers::pool_of(proto)?];
        if let Some(app) = pool.pop() {
            return Some(app);
        }
        Some(Box::new(TcpApp {
            proto,
            streams: Default::default(),
            parsers: Parsers::new(proto)?,
            reported: AnomalySet::new(),
            dead_counted: false,
        }))
    }

    /// Clears a finished flow's state and returns it to the pool.
    pub fn recycle(&mut self, mut app: Box<TcpApp>) {
        app.parsers.reset();
        for st in &mut app.streams {
            st.reset();
        }
        app.reported.clear();
        app.dead_counted = false;
        if let Some(pool) = Parsers::pool_of(app.proto).and_then(|i| self.pools.get_mut(i)) {
            pool.push(app);
        }
    }
}
