//! HL7 v2 over MLLP (in progress).
