//! The registry of parsed protocols: which conversation parser serves
//! which [`AppProto`]. Adding a parsed protocol is one line here (plus its
//! probe in `proto::detect` and its variant in `kinds`).

use crate::kinds::AppProto;
use crate::proto::{dicom, hl7, mqtt, Conversation};

/// Declares [`Parsers`] from `Proto => Type` lines.
macro_rules! parsers {
    ($($proto:ident => $ty:ty,)*) => {
        /// The conversation state of one parsed flow: only its protocol's
        /// parser, so a pooled flow state costs the largest parser, not the
        /// sum of all of them (1.4 KB instead of 2.8 KB per open session).
        #[derive(Debug)]
        // Not boxed per variant: the whole flow state is boxed and pooled
        // per protocol, so a variant never moves or changes once allocated.
        #[allow(clippy::large_enum_variant)]
        pub(super) enum Parsers {
            $(#[allow(missing_docs)] $proto($ty),)*
        }

        impl Parsers {
            /// How many protocols are parsed: one state pool each.
            pub const COUNT: usize = [$(AppProto::$proto),*].len();

            /// The pool that keeps `proto`'s states, if it is parsed (the
            /// others, TLS, are labelled only).
            pub fn pool_of(proto: AppProto) -> Option<usize> {
                [$(AppProto::$proto),*].iter().position(|&p| p == proto)
            }

            /// A new conversation for `proto`, if it is parsed.
            pub fn new(proto: AppProto) -> Option<Parsers> {
                match proto {
                    $(AppProto::$proto => Some(Parsers::$proto(<$ty>::default())),)*
                    _ => None,
                }
            }

            /// The conversation, if it is `proto`'s.
            pub fn get(&mut self, proto: AppProto) -> Option<&mut dyn Conversation> {
                match (self, proto) {
                    $((Parsers::$proto(c), AppProto::$proto) => Some(c),)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// Clears the conversation for another flow of its protocol.
            pub fn reset(&mut self) {
                match self {
                    $(Parsers::$proto(c) => Conversation::reset(c),)*
                }
            }
        }
    };
}

parsers! {
    Dicom => dicom::Association,
    Hl7 => hl7::Conversation,
    Mqtt => mqtt::Session,
}
