//! The contract every conversation parser meets (DICOM association, HL7
//! conversation, MQTT session): the application layer drives them all
//! through [`Conversation`], so a new protocol is one parser plus one
//! registration, not a match arm in every step of the layer.

use super::{Emit, Record};
use crate::time::Micros;

/// One TCP connection's parser: both directions, fed in order.
///
/// Calls come in this order: any number of [`feed`](Conversation::feed) and
/// [`lost`](Conversation::lost), each followed by
/// [`take_output`](Conversation::take_output); then once
/// [`end`](Conversation::end) and [`take_records`](Conversation::take_records);
/// then [`reset`](Conversation::reset) before the state serves another flow.
/// Anomalies go to `emit` as they are found; everything else leaves through
/// [`Output`] and [`Record`].
pub trait Conversation {
    /// In-order bytes of one direction (`to_server`: client → server), seen at `ts`.
    fn feed(&mut self, to_server: bool, bytes: &[u8], ts: Micros, emit: Emit<'_>);
    /// `len` bytes of one direction were lost (a capture or reassembly gap).
    fn lost(&mut self, to_server: bool, len: u32, ts: Micros, emit: Emit<'_>);
    /// What the bytes so far produced for the layer above since the last
    /// call: facts for cross-flow checks and records finished mid-flow.
    fn take_output(&mut self, out: &mut dyn FnMut(Output<'_>));
    /// The connection ended: closes what is still open.
    fn end(&mut self, ts: Micros, emit: Emit<'_>) {
        let _ = (ts, emit);
    }
    /// After [`end`](Conversation::end): the connection's remaining records.
    fn take_records(&mut self, out: &mut dyn FnMut(Record));
    /// True when the parser gave up (framing lost in both directions).
    fn is_dead(&self) -> bool {
        false
    }
    /// Clears everything for another flow (keeps buffer capacities).
    fn reset(&mut self);
}

/// What a conversation hands to the layer above, besides anomalies.
// A record is moved once, straight into the event's box, and never stored
// here: boxing it in the enum would cost a second allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Output<'a> {
    /// A fact that checks across flows need (borrowed, one per event).
    Fact(Fact<'a>),
    /// A finished record.
    Record(Record),
}

/// Facts for the cross-flow detections: each is one protocol event, never
/// one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fact<'a> {
    /// An A-ASSOCIATE-RQ named these AE titles (once per association).
    AssociationStarted {
        /// Calling AE title, as kept.
        calling: &'a str,
        /// Called AE title, as kept.
        called: &'a str,
    },
    /// A C-MOVE asked to send to this AE title.
    MoveDestination(&'a str),
    /// This many more C-FIND/C-MOVE/C-GET requests since the last report.
    Queries(u64),
    /// The broker refused a CONNECT for an authentication failure.
    AuthFailure,
    /// A DIMSE request of a (command, SOP class) not seen before on this
    /// association (repeats of one kind are one fact).
    DicomRequest {
        /// "C-STORE", "C-FIND", ...
        command: &'static str,
        /// The association's called AE title.
        called: &'a str,
    },
    /// An MQTT CONNECT and the broker's answer (once per connection, when
    /// the CONNACK arrives).
    MqttConnect {
        /// Client identifier, as kept.
        client_id: &'a str,
        /// A keyed hash of the user name (the name itself is never kept);
        /// `None` when none was sent, or it was not in the packet's head.
        username: Option<u64>,
        /// A password was sent.
        password: bool,
        /// The broker accepted the login.
        accepted: bool,
    },
    /// The client published to a topic it had not on this connection.
    MqttPublish(&'a str),
    /// The client subscribed to a filter.
    MqttSubscribe(&'a str),
}

/// Index of a direction in per-direction arrays: 0 client → server,
/// 1 server → client.
pub(crate) fn dir(to_server: bool) -> usize {
    usize::from(!to_server)
}

/// A conversation seen from one direction: the handler that direction's
/// parser calls (each protocol implements its parser's handler trait for
/// `Side<'_, '_, ItsConversation>`).
pub(crate) struct Side<'a, 'e, C> {
    /// The conversation.
    pub c: &'a mut C,
    /// Client → server.
    pub to_server: bool,
    /// Where anomalies go.
    pub emit: Emit<'e>,
}

/// A conversation made of one parser per direction, each calling the
/// conversation seen from its side ([`Side`]) as its handler.
pub(crate) trait TwoWay: Sized {
    /// One direction's parser.
    type Parser: Default;

    /// Both parsers: client → server, server → client.
    fn parsers(&mut self) -> &mut [Self::Parser; 2];

    /// Runs `f` on one direction's parser, with this conversation seen from
    /// that side as its handler. The parser is taken out for the call (so
    /// the handler may hold the whole conversation) and put back; taking it
    /// allocates nothing, as a parser's `Default` holds empty buffers.
    fn drive(
        &mut self,
        to_server: bool,
        emit: Emit<'_>,
        f: impl FnOnce(&mut Self::Parser, &mut Side<'_, '_, Self>),
    ) {
        let d = dir(to_server);
        let mut parser = std::mem::take(&mut self.parsers()[d]);
        f(
            &mut parser,
            &mut Side {
                c: self,
                to_server,
                emit,
            },
        );
        self.parsers()[d] = parser;
    }
}
