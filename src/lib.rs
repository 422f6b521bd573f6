//! medtap: a passive monitor for connected medical devices.
//!
//! The hot path is `capture → decode → flow → device`, all synchronous and
//! allocation-free per packet; [`pipeline::Pipeline`] glues it together and
//! hands owned [`event::Event`]s over a bounded channel to the SQLite
//! writer in [`store`]. See `../shared/ARCHITECTURE.md` for the design.

pub mod alert;
pub mod app;
pub mod archive;
pub mod capture;
pub mod config;
pub mod decode;
pub mod device;
pub mod event;
pub mod flow;
pub mod kinds;
pub mod net;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod proto;
pub mod sensor;
pub mod stats;
pub mod store;
pub mod time;
