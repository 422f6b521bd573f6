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
    // 2: DICOM associations and operations, protocol anomalies, reassembly counters.
    r#"
CREATE TABLE dicom_associations (
    flow_id                   INTEGER PRIMARY KEY,
    calling_ae                TEXT NOT NULL,
    called_ae                 TEXT NOT NULL,
    result                    TEXT NOT NULL,
    reject_result             TEXT,
    reject_source             TEXT,
    reject_reason             TEXT,
    abort_source              TEXT,
    abort_reason              TEXT,
    application_context       TEXT,
    implementation_class_uid  TEXT,
    implementation_version    TEXT,
    acceptor_implementation_class_uid TEXT,
    acceptor_implementation_version   TEXT,
    max_pdu_length            INTEGER,
    acceptor_max_pdu_length   INTEGER,
    user_identity_type        INTEGER,
    roles                     TEXT NOT NULL,
    contexts                  TEXT NOT NULL,
    pdus                      INTEGER NOT NULL,
    data_bytes                INTEGER NOT NULL
);
CREATE INDEX dicom_associations_calling ON dicom_associations(calling_ae);
CREATE INDEX dicom_associations_called ON dicom_associations(called_ae);

CREATE TABLE dicom_operations (
    flow_id          INTEGER NOT NULL,
    command          TEXT NOT NULL,
    sop_class_uid    TEXT NOT NULL,
    count            INTEGER NOT NULL,
    bytes            INTEGER NOT NULL,
    statuses         TEXT NOT NULL,
    move_destination TEXT
);
CREATE INDEX dicom_operations_flow ON dicom_operations(flow_id);
CREATE INDEX dicom_operations_sop ON dicom_operations(sop_class_uid);

CREATE TABLE anomalies (
    id      INTEGER PRIMARY KEY,
    ts_us   INTEGER NOT NULL,
    flow_id INTEGER NOT NULL,
    name    TEXT NOT NULL
);
CREATE INDEX anomalies_ts ON anomalies(ts_us);
CREATE INDEX anomalies_flow ON anomalies(flow_id);

ALTER TABLE capture_stats ADD COLUMN reasm_gaps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN reasm_gap_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN reasm_retransmissions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN reasm_overlap_conflicts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN reasm_out_of_order INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN anomalies INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN anomalies_by_name TEXT NOT NULL DEFAULT '{}';
ALTER TABLE capture_stats ADD COLUMN app_abandoned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN dicom_associations INTEGER NOT NULL DEFAULT 0;
"#,
    // 3: HL7 messages, MQTT sessions (publishes, subscriptions), anomaly details.
    r#"
CREATE TABLE hl7_messages (
    id                 INTEGER PRIMARY KEY,
    flow_id            INTEGER NOT NULL,
    ts_us              INTEGER NOT NULL,
    to_server          INTEGER NOT NULL,
    sending_app        TEXT,
    sending_facility   TEXT,
    receiving_app      TEXT,
    receiving_facility TEXT,
    message_time       TEXT,
    message_type       TEXT,
    control_id         TEXT,
    processing_id      TEXT,
    version            TEXT,
    msa_code           TEXT,
    msa_control_id     TEXT,
    ack_code           TEXT,
    ack_latency_us     INTEGER,
    segments           TEXT NOT NULL,
    other_segments     INTEGER NOT NULL,
    bytes              INTEGER NOT NULL,
    framing            TEXT NOT NULL
);
CREATE INDEX hl7_messages_ts ON hl7_messages(ts_us);
CREATE INDEX hl7_messages_flow ON hl7_messages(flow_id);
CREATE INDEX hl7_messages_sending_app ON hl7_messages(sending_app);

CREATE TABLE mqtt_sessions (
    flow_id                 INTEGER PRIMARY KEY,
    protocol_name           TEXT,
    protocol_version        INTEGER,
    client_id               TEXT,
    username_present        INTEGER NOT NULL,
    password_present        INTEGER NOT NULL,
    clean_start             INTEGER,
    keep_alive              INTEGER,
    will_topic              TEXT,
    will_qos                INTEGER,
    will_retain             INTEGER,
    session_expiry_interval INTEGER,
    receive_maximum         INTEGER,
    maximum_packet_size     INTEGER,
    auth_method             TEXT,
    user_properties         INTEGER NOT NULL,
    connack_code            INTEGER,
    connack_reason          TEXT,
    session_present         INTEGER,
    disconnect_code         INTEGER,
    disconnect_reason       TEXT,
    packets_toserver        INTEGER NOT NULL,
    packets_toclient        INTEGER NOT NULL,
    pings                   INTEGER NOT NULL,
    auth_packets            INTEGER NOT NULL,
    topics_dropped          INTEGER NOT NULL,
    unsubscribed            TEXT NOT NULL
);
CREATE INDEX mqtt_sessions_client ON mqtt_sessions(client_id);

CREATE TABLE mqtt_publishes (
    flow_id   INTEGER NOT NULL,
    to_server INTEGER NOT NULL,
    topic     TEXT NOT NULL,
    qos       INTEGER NOT NULL,
    retain    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    dup       INTEGER NOT NULL
);
CREATE INDEX mqtt_publishes_flow ON mqtt_publishes(flow_id);
CREATE INDEX mqtt_publishes_topic ON mqtt_publishes(topic);

CREATE TABLE mqtt_subscriptions (
    flow_id        INTEGER NOT NULL,
    filter         TEXT NOT NULL,
    qos            INTEGER NOT NULL,
    granted        INTEGER,
    granted_reason TEXT
);
CREATE INDEX mqtt_subscriptions_flow ON mqtt_subscriptions(flow_id);

ALTER TABLE anomalies ADD COLUMN detail TEXT;
ALTER TABLE capture_stats ADD COLUMN hl7_messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN mqtt_sessions INTEGER NOT NULL DEFAULT 0;
"#,
    // 4: sessions (who wrote the database, and whether it stopped cleanly);
    // statistics rows name their session.
    r#"
CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY,
    command         TEXT NOT NULL,
    source          TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    version         TEXT NOT NULL,
    started_us      INTEGER NOT NULL,
    heartbeat_us    INTEGER NOT NULL,
    ended_us        INTEGER,
    end_reason      TEXT,
    records_written INTEGER NOT NULL DEFAULT 0,
    records_failed  INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE capture_stats ADD COLUMN session_id INTEGER;
"#,
    // 5: drop the indexes no query uses. Each is kept up to date on every
    // insert: the topic index alone (random text keys, one entry per
    // topic per MQTT session) was the writer's largest single cost.
    // Ad-hoc SQL on these columns still works, by scanning.
    r#"
DROP INDEX IF EXISTS mqtt_publishes_topic;
DROP INDEX IF EXISTS hl7_messages_sending_app;
DROP INDEX IF EXISTS dicom_associations_calling;
DROP INDEX IF EXISTS dicom_associations_called;
DROP INDEX IF EXISTS dicom_operations_sop;
"#,
    // 6: identity (issue 11). Devices are keyed by MAC, or by IP for a
    // host seen only behind a router; they carry vendor and role. Names,
    // device events, DHCP messages and the asset list snapshot are new.
    r#"
CREATE TABLE devices_v6 (
    device               TEXT PRIMARY KEY,
    mac                  TEXT,
    first_seen_us        INTEGER NOT NULL,
    last_seen_us         INTEGER NOT NULL,
    vendor               TEXT,
    medical_vendor       INTEGER NOT NULL DEFAULT 0,
    locally_administered INTEGER NOT NULL DEFAULT 0,
    role                 TEXT
) WITHOUT ROWID;
INSERT INTO devices_v6 (device, mac, first_seen_us, last_seen_us)
    SELECT mac, mac, first_seen_us, last_seen_us FROM devices;
DROP TABLE devices;
ALTER TABLE devices_v6 RENAME TO devices;

ALTER TABLE device_ips RENAME COLUMN mac TO device;

CREATE TABLE device_names (
    device        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    value         TEXT NOT NULL,
    first_seen_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    PRIMARY KEY (device, kind, value)
) WITHOUT ROWID;

CREATE TABLE device_events (
    id            INTEGER PRIMARY KEY,
    ts_us         INTEGER NOT NULL,
    device        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    ip            TEXT,
    other_mac     TEXT,
    evidence      TEXT NOT NULL,
    held_by       TEXT,
    held_until_us INTEGER,
    detail        TEXT
);
CREATE INDEX device_events_device ON device_events(device);
CREATE INDEX device_events_ts ON device_events(ts_us);

CREATE TABLE dhcp_messages (
    id               INTEGER PRIMARY KEY,
    ts_us            INTEGER NOT NULL,
    flow_id          INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    op               INTEGER,
    msg_type         INTEGER,
    xid              INTEGER NOT NULL,
    client_mac       TEXT,
    ciaddr           TEXT,
    yiaddr           TEXT,
    siaddr           TEXT,
    giaddr           TEXT,
    requested_ip     TEXT,
    server_id        TEXT,
    lease_secs       INTEGER,
    hostname         TEXT,
    fqdn             TEXT,
    vendor_class     TEXT,
    fingerprint      TEXT,
    client_id        TEXT,
    user_class       TEXT,
    relay_circuit_id TEXT,
    relay_remote_id  TEXT,
    domain_name      TEXT,
    option_order     TEXT,
    issues           TEXT
);
CREATE INDEX dhcp_messages_client ON dhcp_messages(client_mac);

CREATE TABLE assets (
    line       INTEGER NOT NULL,
    mac        TEXT,
    ip         TEXT,
    name       TEXT,
    class      TEXT,
    department TEXT,
    location   TEXT,
    owner      TEXT,
    asset_id   TEXT,
    udi        TEXT,
    notes      TEXT
);
"#,
    // 7: classification (issue 12). A device's class, how sure and why,
    // and the grade Table B.1 gives it with the attributes it came from;
    // the asset list may give one device its own attributes; HL7 keeps
    // MSH-21 (the message profile, e.g. IHE PCD-01).
    r#"
ALTER TABLE devices ADD COLUMN class TEXT;
ALTER TABLE devices ADD COLUMN class_name TEXT;
ALTER TABLE devices ADD COLUMN class_name_zh TEXT;
ALTER TABLE devices ADD COLUMN class_source TEXT;
ALTER TABLE devices ADD COLUMN medical INTEGER;
ALTER TABLE devices ADD COLUMN confidence REAL;
ALTER TABLE devices ADD COLUMN runner_up TEXT;
ALTER TABLE devices ADD COLUMN grade INTEGER;
ALTER TABLE devices ADD COLUMN contact INTEGER;
ALTER TABLE devices ADD COLUMN usage_form TEXT;
ALTER TABLE devices ADD COLUMN level TEXT;
ALTER TABLE devices ADD COLUMN grade_source TEXT;
ALTER TABLE devices ADD COLUMN evidence TEXT;
ALTER TABLE devices ADD COLUMN classified_us INTEGER;

ALTER TABLE assets ADD COLUMN contact TEXT;
ALTER TABLE assets ADD COLUMN usage_form TEXT;
ALTER TABLE assets ADD COLUMN level TEXT;

ALTER TABLE hl7_messages ADD COLUMN profile TEXT;
"#,
    // 8: alerts (issue 13). One row per alert; repeats of a finding fold
    // into it (count, last seen), so the row is written again under its
    // id. Learning-mode observations are alerts with `observation` = 1.
    // `policy_state` keeps when learning started, across restarts.
    r#"
CREATE TABLE alerts (
    alert_id      INTEGER PRIMARY KEY,
    first_seen_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    rule          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    clause        TEXT NOT NULL,
    message       TEXT NOT NULL,
    detail        TEXT NOT NULL,
    device_mac    TEXT,
    device_ip     TEXT,
    device_class  TEXT,
    device_name   TEXT,
    grade         INTEGER,
    peer_mac      TEXT,
    peer_ip       TEXT,
    peer_class    TEXT,
    peer_name     TEXT,
    flow_id       INTEGER,
    proto         INTEGER,
    src_ip        TEXT,
    src_port      INTEGER,
    dest_ip       TEXT,
    dest_port     INTEGER,
    app_proto     TEXT,
    community_id  TEXT,
    evidence      TEXT NOT NULL,
    observation   INTEGER NOT NULL
);
CREATE INDEX alerts_first_seen ON alerts(first_seen_us);
CREATE INDEX alerts_last_seen ON alerts(last_seen_us);
CREATE INDEX alerts_device_mac ON alerts(device_mac);
CREATE INDEX alerts_device_ip ON alerts(device_ip);

CREATE TABLE policy_state (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

ALTER TABLE capture_stats ADD COLUMN alerts_raised INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN alerts_folded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN alerts_suppressed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN alerts_closed_early INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN policy_observations INTEGER NOT NULL DEFAULT 0;
"#,
    // 9: what each output (EVE, syslog, metrics) delivered, dropped and
    // failed to deliver, per statistics period (issue 14).
    r#"
ALTER TABLE capture_stats ADD COLUMN sink_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN sink_sent_by_name TEXT NOT NULL DEFAULT '{}';
ALTER TABLE capture_stats ADD COLUMN sink_dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN sink_dropped_by_name TEXT NOT NULL DEFAULT '{}';
ALTER TABLE capture_stats ADD COLUMN sink_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN sink_failed_by_name TEXT NOT NULL DEFAULT '{}';
"#,
    // 10: the packet archive's index (issue 15): each capture file's time
    // range and state, and which flows have frames in which file (with the
    // offset of the first), so that extraction reads only what it needs.
    // A deleted file keeps its row (`state` = 'deleted'), so an extraction
    // can say that part of its range is gone. What the archive dropped,
    // cut and deleted is counted in capture_stats.
    r#"
CREATE TABLE archive_files (
    file_id        INTEGER PRIMARY KEY,
    dir            TEXT NOT NULL,
    name           TEXT NOT NULL,
    link           INTEGER NOT NULL,
    first_us       INTEGER,
    last_us        INTEGER,
    packets        INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    state          TEXT NOT NULL,
    flows_complete INTEGER NOT NULL,
    deleted_us     INTEGER,
    deleted_reason TEXT
);
CREATE INDEX archive_files_last ON archive_files(last_us);

CREATE TABLE archive_flows (
    flow_id      INTEGER NOT NULL,
    file_id      INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    packets      INTEGER NOT NULL,
    PRIMARY KEY (flow_id, file_id)
) WITHOUT ROWID;
CREATE INDEX archive_flows_file ON archive_flows(file_id);

ALTER TABLE capture_stats ADD COLUMN archive_frames INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN archive_dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN archive_cut_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN archive_not_written INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN archive_files_deleted INTEGER NOT NULL DEFAULT 0;
"#,
    // 11: database retention (issue 15, item 5). `retention_marks` holds,
    // per pruned table, how far retention has deleted and how many rows:
    // for `flows` and `alerts` (deleted strictly in id order) every row
    // with an id <= `pruned_through` is gone or may be gone by retention,
    // none above it was deleted by retention (`medtap verify` relies on
    // this). DHCP messages get a time index: they are pruned by age, and
    // without it every step would scan the table. Statistics rows get one
    // on their period's end for the same reason (`written_us` is wall
    // time; an imported capture is aged by its packet time). The writer
    // counts what it pruned in its next statistics row.
    r#"
CREATE TABLE retention_marks (
    tbl            TEXT PRIMARY KEY,
    pruned_through INTEGER NOT NULL,
    pruned_rows    INTEGER NOT NULL,
    last_pruned_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dhcp_messages_ts ON dhcp_messages(ts_us);
CREATE INDEX capture_stats_period_end ON capture_stats(period_end_us);
ALTER TABLE capture_stats ADD COLUMN pruned_rows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE capture_stats ADD COLUMN pruned_by_table TEXT NOT NULL DEFAULT '{}';
"#,
    // 12: the evidence chain (issue 15 item 6; DB3205/T 5.5 d)): one row
    // per writer transaction that wrote flow or alert rows, with a digest
    // of each such row as it was committed and a SHA-256 linking it to the
    // row before (src/store/chain.rs, `medtap verify`). `entries` is NULL
    // once retention has deleted every row it covers; `*_base` is set on
    // the first batch only (rows at or below it predate the chain).
    // Retention's marks (migration 11) tell pruned rows from removed ones.
    r#"
CREATE TABLE chain_batches (
    batch_id      INTEGER PRIMARY KEY,
    written_us    INTEGER NOT NULL,
    flow_columns  INTEGER NOT NULL,
    alert_columns INTEGER NOT NULL,
    flow_rows     INTEGER NOT NULL,
    alert_rows    INTEGER NOT NULL,
    flow_min      INTEGER,
    flow_max      INTEGER,
    alert_min     INTEGER,
    alert_max     INTEGER,
    flow_base     INTEGER,
    alert_base    INTEGER,
    entries       BLOB,
    entries_hash  BLOB NOT NULL,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL
);
CREATE INDEX chain_batches_with_entries ON chain_batches(batch_id) WHERE entries IS NOT NULL;
"#,
];
