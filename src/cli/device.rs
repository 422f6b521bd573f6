//! `medtap device MAC|IP`: everything known about one device on one
//! screen — the page a responder opens first: addresses with their
//! sources and times, names, vendor, asset fields, protocols with their
//! peers, and its events.

use super::devices::{display_name, vendor_cell};
use super::table::{self, escape};
use super::{open_db, DbArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::query;
use std::io::Write;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DeviceArgs {
    /// The device's MAC, or one of its IP addresses
    #[arg(value_name = "MAC|IP")]
    id: String,
    #[command(flatten)]
    db: DbArgs,
    /// One JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(a: DeviceArgs) -> Result<ExitCode> {
    let conn = open_db(&a.db.db_path()?)?;
    let id = a.id.trim().to_lowercase();
    let id = medtap::net::Mac::parse(&id).map_or(id, |m| m.text().as_str().to_string());
    let Some(d) = query::device(&conn, &id)? else {
        eprintln!("medtap: no device with MAC or IP {}", escape(&a.id));
        return Ok(ExitCode::from(1));
    };
    if a.json {
        let mut out = std::io::stdout().lock();
        table::write_json_line(&mut out, &d)?;
        return Ok(ExitCode::SUCCESS);
    }
    let dev = &d.device;
    let o = |v: &Option<String>| v.as_deref().map_or("-".to_string(), escape);
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            escape(&v.join(", "))
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "device      {}",
        o(&dev.mac.clone().or(Some(dev.key.clone())))
    )?;
    writeln!(out, "name        {}", escape(&display_name(dev)))?;
    writeln!(out, "vendor      {}", escape(&vendor_cell(dev)))?;
    writeln!(out, "role        {}", o(&dev.role))?;
    writeln!(
        out,
        "class       {} — {} / {}{}",
        escape(&dev.class),
        escape(&dev.class_name),
        escape(&dev.class_name_zh),
        match dev.class_source.as_deref() {
            Some("asset") => " (asset list)".to_string(),
            Some(_) => format!(" (confidence {:.2})", dev.confidence),
            None => String::new(),
        }
    )?;
    if let Some(r) = &dev.runner_up {
        writeln!(out, "runner-up   {}", escape(r))?;
    }
    match (&dev.grade, &dev.grade_basis) {
        (Some(g), Some(b)) => writeln!(
            out,
            "grade       {g} (Table B.1: {}, {}, {}; from the {})",
            if b.contact { "contact" } else { "non-contact" },
            b.usage_form,
            b.level,
            match b.source.as_str() {
                "asset" => "asset list",
                "override" => "hospital's class file",
                _ => "class table",
            }
        )?,
        _ => writeln!(out, "grade       - (not a medical device class)")?,
    }
    if dev.evidence.is_empty() {
        writeln!(out, "evidence    -")?;
    }
    for (i, e) in dev.evidence.iter().enumerate() {
        let label = if i == 0 { "evidence" } else { "" };
        writeln!(out, "{label:<12}{}", escape(e))?;
    }
    writeln!(out, "ips         {}", list(&dev.ips))?;
    writeln!(out, "seen        {} .. {}", dev.first_seen, dev.last_seen)?;
    writeln!(out, "protocols   {}", list(&dev.protocols))?;
    writeln!(out, "services    {}", list(&dev.services))?;
    let n = &dev.names;
    writeln!(out, "hostname    {}", o(&n.hostname))?;
    writeln!(out, "fqdn        {}", o(&n.fqdn))?;
    writeln!(
        out,
        "dhcp        vendor class {}; fingerprint {}; client id {}",
        o(&n.dhcp_vendor_class),
        o(&n.dhcp_fingerprint),
        o(&n.dhcp_client_id)
    )?;
    writeln!(out, "dicom AEs   {}", list(&n.dicom_ae_titles))?;
    writeln!(out, "hl7 apps    {}", list(&n.hl7_apps))?;
    writeln!(out, "mqtt ids    {}", list(&n.mqtt_client_ids))?;
    match &dev.asset {
        None => writeln!(out, "registered  no")?,
        Some(asset) => {
            writeln!(out, "registered  yes (asset list line {})", asset.line)?;
            let f = &asset.fields;
            for (k, v) in [
                ("class", &f.class),
                ("contact", &f.contact),
                ("usage_form", &f.usage_form),
                ("level", &f.level),
                ("department", &f.department),
                ("location", &f.location),
                ("owner", &f.owner),
                ("asset_id", &f.asset_id),
                ("udi", &f.udi),
                ("notes", &f.notes),
            ] {
                writeln!(out, "  {k:<10}{}", o(v))?;
            }
        }
    }
    drop(out);
    println!("\naddresses");
    table::print(
        &["ip", "source", "first_seen", "last_seen"],
        d.addresses.iter().map(|r| {
            vec![
                r.ip.clone(),
                r.source.clone(),
                r.first_seen.clone(),
                r.last_seen.clone(),
            ]
        }),
    )?;
    println!("\nnames");
    table::print(
        &["kind", "value", "first_seen", "last_seen"],
        d.name_history.iter().map(|r| {
            vec![
                r.kind.clone(),
                r.value.clone(),
                r.first_seen.clone(),
                r.last_seen.clone(),
            ]
        }),
    )?;
    println!("\npeers");
    table::print(
        &[
            "role",
            "protocol",
            "peer_ip",
            "peer_mac",
            "flows",
            "first_seen",
            "last_seen",
        ],
        d.peers.iter().map(|p| {
            vec![
                p.role.clone(),
                p.protocol.clone(),
                p.peer_ip.clone(),
                p.peer_mac.clone().unwrap_or_else(|| "-".into()),
                p.flows.to_string(),
                p.first_seen.clone(),
                p.last_seen.clone(),
            ]
        }),
    )?;
    println!("\nevents");
    table::print(
        &[
            "time",
            "kind",
            "ip",
            "other_mac",
            "evidence",
            "held_by",
            "held_until",
            "detail",
        ],
        d.events.iter().map(|e| {
            let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            vec![
                e.time.clone(),
                e.kind.clone(),
                s(&e.ip),
                s(&e.other_mac),
                e.evidence.clone(),
                s(&e.held_by),
                s(&e.held_until),
                s(&e.detail),
            ]
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}
