//! Extraction (next).
