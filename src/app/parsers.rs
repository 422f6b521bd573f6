//! The registry of parsed protocols: which conversation parser serves
//! which [`AppProto`]. Adding a parsed protocol is one line here (plus its
//! probe in `proto::detect` and its variant in `kinds`).

use crate::kinds::AppProto;
use crate::proto::{dicom, hl7, mqtt, Conversation};

/// Declares [`Parsers`] from `Proto => field: Type` lines.
macro_rules! parsers {
    ($($proto:ident => $field:ident: $ty:ty,)*) => {
        /// One conversation state per registered protocol. A pooled flow
        /// state holds them all, so one pool serves every protocol and the
        /// buffers keep their capacity whatever the next flow speaks.
        #[derive(Debug, Default)]
        pub(super) struct Parsers {
            $($field: $ty,)*
        }

        impl Parsers {
            /// Whether `proto` is parsed (the others, TLS, are labelled only).
            pub fn parses(proto: AppProto) -> bool {
                matches!(proto, $(AppProto::$proto)|*)
            }

            /// The conversation for `proto`, if it is parsed.
            pub fn get(&mut self, proto: AppProto) -> Option<&mut dyn Conversation> {
                match proto {
                    $(AppProto::$proto => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            /// Clears every conversation for another flow.
            pub fn reset(&mut self) {
                $(Conversation::reset(&mut self.$field);)*
            }
        }
    };
}

parsers! {
    Dicom => dicom: dicom::Association,
    Hl7 => hl7: hl7::Conversation,
    Mqtt => mqtt: mqtt::Session,
}
