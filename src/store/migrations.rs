//! Schema migrations. Never edit a released entry: append a new one.
//! Times are microseconds since the Unix epoch (UTC); addresses are text in
//! their canonical form, so SQL filters and humans read them alike.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: flows, devices, device_ips, capture_stats.
    r#"
CREATE TABLE flows (
    flow_id                INTEGER PRIMARY KEY,
    community_id           TEXT,
    start_us               INTEGER NOT NULL,
    end_us                 INTEGER NOT NULL,
    proto                  INTEGER NOT NULL,
    src_ip                 TEXT NOT NULL,
    src_port               INTEGER NOT NULL,
    dest_ip                TEXT NOT NULL,
    dest_port              INTEGER NOT NULL,
    icmp_type              INTEGER,
    icmp_code              INTEGER,
    vlan                   INTEGER,
    src_mac                TEXT,
    dest_mac               TEXT,
    app_proto              TEXT,
    pkts_toserver          INTEGER NOT NULL,
    pkts_toclient          INTEGER NOT NULL,
    bytes_toserver         INTEGER NOT NULL,
    bytes_toclient         INTEGER NOT NULL,
    payload_bytes_toserver INTEGER NOT NULL,
    payload_bytes_toclient INTEGER NOT NULL,
    tcp_flags_toserver     INTEGER NOT NULL,
    tcp_flags_toclient     INTEGER NOT NULL,
    state                  TEXT NOT NULL,
    reason                 TEXT NOT NULL
);
CREATE INDEX flows_start ON flows(start_us);
CREATE INDEX flows_src_ip ON flows(src_ip);
CREATE INDEX flows_dest_ip ON flows(dest_ip);

CREATE TABLE devices (
    mac           TEXT PRIMARY KEY,
    first_seen_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE device_ips (
    mac           TEXT NOT NULL,
    ip            TEXT NOT NULL,
    first_seen_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    source        TEXT NOT NULL,
    PRIMARY KEY (mac, ip)
) WITHOUT ROWID;
CREATE INDEX device_ips_ip ON device_ips(ip);

CREATE TABLE capture_stats (
    id                INTEGER PRIMARY KEY,
    written_us        INTEGER NOT NULL,
    source            TEXT NOT NULL,
    period_start_us   INTEGER NOT NULL,
    period_end_us     INTEGER NOT NULL,
    packets           INTEGER NOT NULL,
    bytes             INTEGER NOT NULL,
    kernel_received   INTEGER NOT NULL,
    kernel_drops      INTEGER NOT NULL,
    if_drops          INTEGER NOT NULL,
    decode_errors     INTEGER NOT NULL,
    decode_errors_by_kind TEXT NOT NULL,
    not_ip            INTEGER NOT NULL,
    ip_fragments      INTEGER NOT NULL,
    flows_created     INTEGER NOT NULL,
    flows_evicted     INTEGER NOT NULL,
    flows_timed_out   INTEGER NOT NULL,
    devices_untracked INTEGER NOT NULL,
    records_dropped   INTEGER NOT NULL,
    records_failed    INTEGER NOT NULL,
    read_errors       INTEGER NOT NULL
);
CREATE INDEX capture_stats_written ON capture_stats(written_us);
"#,
];
