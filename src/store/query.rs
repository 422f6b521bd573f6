//! Read-side queries used by the CLI, gathered from their tables' modules.
//! Row types serialise to the JSON contracts documented in the README
//! (`flows --json`, `devices --json`, `status --json`, `dicom --json`,
//! `hl7 --json`, `mqtt --json`, `alerts --json`).

pub use super::filter::{AppFilter, DeviceSel};
pub use super::rows::alert::{alerts, AlertFilter, AlertRow};
pub use super::rows::assets::AssetRow;
pub use super::rows::baseline::{
    assets as stored_assets, flows as baseline_flows, BaselineFlow, StoredAsset,
};
pub use super::rows::dhcp::{transactions as dhcp_transactions, DhcpTransaction};
pub use super::rows::dicom::{dicom, DicomAbort, DicomOperation, DicomReject, DicomRow};
pub use super::rows::flow::{flows, max_flow_id, FlowFilter, FlowRow};
pub use super::rows::hl7::{hl7, Hl7Row};
pub use super::rows::inventory::{
    device, devices, DeviceDetail, DeviceFilter, DeviceRow, ExportRow,
};
pub use super::rows::mqtt::{mqtt, MqttPublish, MqttRow, MqttSubscription};
pub use super::rows::SessionFlow;
pub use super::status::{status, Status};
