//! `medtap baseline propose`: allow-lists, as policy TOML ready to review,
//! from what the devices were seen doing (typically over a learning
//! period: `policy.learn_for`, `analyze --learn`). Put the reviewed result
//! in the rules directory's policy.toml.

use super::{load_config, open_db};
use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use medtap::net::{Cidr, Mac};
use medtap::policy::baseline::{propose, Scope, Use};
use medtap::policy::evaluate::{End, Transport};
use medtap::policy::rules::Direction;
use medtap::store::query::{self, BaselineFlow, StoredAsset};
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum BaselineCommand {
    /// Print allow entries that allow what was seen (one per class,
    /// direction, protocol and peer), commented with the devices, flows,
    /// bytes and first/last seen behind each.
    Propose(ProposeArgs),
}

#[derive(Args, Debug)]
pub struct ProposeArgs {
    #[command(flatten)]
    db: super::DbArgs,
    /// Directory of the hospital's rules (its policy.toml's entries for
    /// every class are taken as given) [default: the config's policy.rules_dir]
    #[arg(long, value_name = "DIR", value_parser = super::any_path())]
    rules: Option<PathBuf>,
    /// Only this device class
    #[arg(long, value_name = "ID", conflicts_with = "device")]
    class: Option<String>,
    /// Only this device (MAC or IP): entries for it alone (`devices = [...]`)
    #[arg(long, value_name = "MAC|IP")]
    device: Option<String>,
    /// Only flows active at or after this time (RFC 3339, or relative: -7d)
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    since: Option<String>,
    /// Only flows that started at or before this time
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    until: Option<String>,
}

pub fn run(c: BaselineCommand) -> Result<ExitCode> {
    match c {
        BaselineCommand::Propose(a) => run_propose(a),
    }
}

fn run_propose(a: ProposeArgs) -> Result<ExitCode> {
    let mut cfg = load_config(a.db.config.as_deref())?;
    if let Some(r) = a.rules.clone() {
        cfg.policy.rules_dir = r;
    }
    let db = a.db.db_path()?;
    let conn = open_db(&db)?;
    let now = medtap::time::now();
    let since = a
        .since
        .as_deref()
        .map(|t| medtap::time::parse_time(t, now))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|t| medtap::time::parse_time(t, now))
        .transpose()?;
    // The infrastructure entries every class has: what they allow is not
    // proposed again.
    let dir = cfg.policy.rules_dir().map_err(anyhow::Error::msg)?;
    let (classifier, _) = medtap::device::rules::load(dir)?;
    let cx = medtap::policy::rules::Context {
        classes: classifier.classes(),
        assets: None,
        internal: cfg.identity.networks(),
        now,
    };
    let policy = medtap::policy::rules::load(dir, &cx)?;
    if let Some(c) = &a.class {
        if classifier.classes().get(c).is_none() {
            return Err(anyhow!("--class {c:?} is not a device class id"));
        }
    }
    let device = a
        .device
        .as_deref()
        .map(|d| {
            query::DeviceSel::parse(d)
                .ok_or_else(|| anyhow!("--device {d:?} is neither a MAC nor an IP address"))
        })
        .transpose()?;
    let flows = query::baseline_flows(&conn, since, until)?;
    let names = Names::new(query::stored_assets(&conn)?);
    let local = cfg.identity.networks();
    let mut uses = Vec::new();
    for f in &flows {
        for role in [Direction::Initiates, Direction::Accepts] {
            if let Some(u) = use_of(f, role, &local, &names, &policy, &a.class, device) {
                uses.push(u);
            }
        }
    }
    let header = vec![
        format!(
            "Proposed by `medtap baseline propose` from {} ({} flows, {} uses).",
            db.display(),
            flows.len(),
            uses.len()
        ),
        "Review every entry before use: it allows exactly what was seen, good or bad.".into(),
        "Entries of the shipped policy for every class (DHCP, DNS, NTP, ICMP, discovery) stay."
            .into(),
    ];
    let text = propose(&uses, &header);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The asset list's names, for peers and comments.
struct Names {
    by_mac: HashMap<String, String>,
    by_ip: HashMap<String, String>,
}

impl Names {
    fn new(assets: Vec<StoredAsset>) -> Names {
        let mut count: HashMap<String, usize> = HashMap::new();
        for (_, _, name, _) in &assets {
            if let Some(n) = name {
                *count.entry(n.clone()).or_default() += 1;
            }
        }
        let mut names = Names {
            by_mac: HashMap::new(),
            by_ip: HashMap::new(),
        };
        // A name two devices share cannot name a peer.
        for (mac, ip, name, _) in assets {
            let Some(n) = name.filter(|n| count[n] == 1) else {
                continue;
            };
            if let Some(m) = mac {
                names.by_mac.insert(m, n.clone());
            }
            if let Some(ip) = ip {
                names.by_ip.insert(ip, n);
            }
        }
        names
    }

    fn of(&self, mac: Option<&str>, ip: &str) -> Option<&String> {
        mac.and_then(|m| self.by_mac.get(m))
            .or_else(|| self.by_ip.get(ip))
    }
}

/// The part of a flow's `role` end, if it is a classified local device
/// in scope and nothing every class may do covers it.
fn use_of(
    f: &BaselineFlow,
    role: Direction,
    local: &[Cidr],
    names: &Names,
    policy: &medtap::policy::Policy,
    only_class: &Option<String>,
    only_device: Option<query::DeviceSel>,
) -> Option<Use> {
    let (me_ip, me_mac, class, peer_ip, peer_mac) = match role {
        Direction::Initiates => (&f.src_ip, &f.src_mac, &f.src_class, &f.dest_ip, &f.dest_mac),
        _ => (
            &f.dest_ip,
            &f.dest_mac,
            &f.dest_class,
            &f.src_ip,
            &f.src_mac,
        ),
    };
    let ip: IpAddr = me_ip.parse().ok()?;
    let is_local = |ip: IpAddr| local.iter().any(|n| n.contains(ip));
    // A device on a local network: its frames carry its own MAC.
    if !is_local(ip) || me_mac.is_none() {
        return None;
    }
    let class = class.as_deref().filter(|c| *c != "unknown")?;
    let scope = match only_device {
        Some(sel) => {
            let hit = match sel {
                query::DeviceSel::Mac(m) => me_mac.as_deref() == Some(m.text().as_str()),
                query::DeviceSel::Ip(d) => d == ip,
            };
            if !hit {
                return None;
            }
            let label = names.of(me_mac.as_deref(), me_ip).cloned();
            Scope::Device(label.unwrap_or_else(|| me_mac.clone().unwrap_or_default()))
        }
        None => {
            if only_class.as_deref().is_some_and(|c| c != class) {
                return None;
            }
            Scope::Class(class.to_string())
        }
    };
    let peer_addr: IpAddr = peer_ip.parse().ok()?;
    let peer_local = is_local(peer_addr);
    let peer_end = End {
        mac: peer_mac
            .as_deref()
            .and_then(Mac::parse)
            .filter(|_| peer_local),
        ip: Some(peer_addr),
        ..End::default()
    };
    let app = f
        .app_proto
        .as_deref()
        .and_then(medtap::kinds::AppProto::from_name);
    let t = Transport {
        proto: f.proto,
        server_port: f.dest_port,
        app,
    };
    if policy.common_allows(role, &peer_end, &t) {
        return None;
    }
    let peer = match names.of(peer_mac.as_deref().filter(|_| peer_local), peer_ip) {
        Some(n) => format!("device:{n}"),
        None => format!("device:{peer_ip}"),
    };
    let device = match names.of(me_mac.as_deref(), me_ip) {
        Some(n) => format!("{n} {}", me_mac.as_deref().unwrap_or(me_ip)),
        None => me_mac.clone().unwrap_or_else(|| me_ip.clone()),
    };
    let initiates = role == Direction::Initiates;
    Some(Use {
        scope,
        device,
        direction: role,
        app: f.app_proto.clone(),
        proto: medtap::flow::proto_name(f.proto).to_string(),
        port: f.dest_port,
        peer,
        bytes: f.bytes,
        first: f.start,
        last: f.end,
        // The called AE title and the receiving application are the
        // acceptor's own names: a class's accept entry would tie every
        // device of the class to one device's names.
        called_ae: f.called_ae.clone().filter(|_| initiates),
        dicom_ops: f.dicom_ops.clone(),
        hl7_receiving: if initiates {
            f.hl7_receiving.clone()
        } else {
            Vec::new()
        },
        hl7_types: f.hl7_types.clone(),
        // What the client published and subscribed to is the client's.
        mqtt_publish: if initiates {
            f.mqtt_publish.clone()
        } else {
            Vec::new()
        },
        mqtt_subscribe: if initiates {
            f.mqtt_subscribe.clone()
        } else {
            Vec::new()
        },
    })
}
