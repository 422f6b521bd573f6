//! MQTT 3.1, 3.1.1 and 5.0 (placeholder API until the parser lands).
#![allow(missing_docs, clippy::missing_const_for_fn)]

use crate::proto::Emit;

pub const PROBE_LEN: usize = 16;

pub fn probe(first: &[u8]) -> Option<bool> {
    let _ = first;
    Some(false)
}

#[derive(Debug, Default)]
pub struct Session {
    rec: SessionRecord,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PublishRecord {
    pub to_server: bool,
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub count: u64,
    pub bytes: u64,
    pub dup: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SubscribeRecord {
    pub filter: String,
    pub qos: u8,
    pub granted: Option<u8>,
    pub granted_reason: Option<&'static str>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SessionRecord {
    pub protocol_name: Option<String>,
    pub protocol_version: Option<u8>,
    pub client_id: Option<String>,
    pub username_present: bool,
    pub password_present: bool,
    pub clean_start: Option<bool>,
    pub keep_alive: Option<u16>,
    pub will_topic: Option<String>,
    pub will_qos: Option<u8>,
    pub will_retain: Option<bool>,
    pub session_expiry_interval: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub maximum_packet_size: Option<u32>,
    pub auth_method: Option<String>,
    pub user_properties: u32,
    pub connack_code: Option<u8>,
    pub connack_reason: Option<&'static str>,
    pub session_present: Option<bool>,
    pub published: Vec<PublishRecord>,
    pub subscribed: Vec<SubscribeRecord>,
    pub unsubscribed: Vec<String>,
    pub disconnect_code: Option<u8>,
    pub disconnect_reason: Option<&'static str>,
    pub packets_toserver: u64,
    pub packets_toclient: u64,
    pub pings: u64,
    pub auth_packets: u64,
    pub topics_dropped: u64,
}

impl Session {
    pub fn reset(&mut self) {
        self.rec = SessionRecord::default();
    }
    pub fn data(&mut self, _to_server: bool, _bytes: &[u8], _emit: Emit<'_>) {}
    pub fn gap(&mut self, _to_server: bool, _len: u32, _emit: Emit<'_>) {}
    pub fn is_dead(&self) -> bool {
        false
    }
    pub fn take_auth_failure(&mut self) -> bool {
        false
    }
    pub fn take_record(&mut self) -> SessionRecord {
        std::mem::take(&mut self.rec)
    }
}
