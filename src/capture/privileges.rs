//! Giving up capabilities once the capture socket is open.
//!
//! Opening a packet socket needs CAP_NET_RAW; reading from the socket once
//! it is open does not. Everything after the open — decoding packets an
//! attacker wrote, writing the database — therefore runs with no
//! capabilities at all, so a bug there cannot be turned into raw network
//! access, or into root's wider powers when medtap was started as root.
//!
//! Capabilities belong to a thread: capset(2) changes only its caller, and
//! a thread spawned earlier keeps what it had. The drop must run before
//! medtap starts any other thread; `medtap run` calls it right after the
//! capture opens, before the session starts its writer thread.

use caps::{CapSet, Capability, CapsHashSet};

/// A capability set could not be read or cleared.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// A capget/capset/prctl call failed.
    #[error("cannot drop capabilities: {step}: {source}")]
    Caps {
        /// What was being done, e.g. "clear the permitted set".
        step: &'static str,
        /// The caps crate's reason.
        source: caps::errors::CapsError,
    },
    /// The kernel accepted the drop but the set is not empty afterwards.
    #[error("cannot drop capabilities: the {set} set still holds {held}")]
    Kept {
        /// Which set.
        set: &'static str,
        /// What it still holds.
        held: String,
    },
}

/// Clears the effective, permitted, inheritable and ambient sets of the
/// calling thread, and the bounding set too when CAP_SETPCAP allows it
/// (otherwise the bounding set is left as it is: under the systemd unit it
/// holds only CAP_NET_RAW, and NoNewPrivileges stops an exec from using
/// it). Logs at info what was dropped.
///
/// Call it before any other thread is started (see the module comment).
pub fn drop_capabilities() -> Result<(), PrivilegeError> {
    let fail = |step| move |source| PrivilegeError::Caps { step, source };
    let read = |set, step| caps::read(None, set).map_err(fail(step));
    let effective = read(CapSet::Effective, "read the effective set")?;
    let permitted = read(CapSet::Permitted, "read the permitted set")?;
    let inheritable = read(CapSet::Inheritable, "read the inheritable set")?;
    // The ambient set exists since Linux 4.3; on an older kernel there is
    // nothing to clear.
    let ambient_exists = caps::runtime::ambient_set_supported().is_ok();
    let ambient = if ambient_exists {
        read(CapSet::Ambient, "read the ambient set")?
    } else {
        CapsHashSet::new()
    };

    // Dropping from the bounding set needs CAP_SETPCAP in the effective
    // set, so it goes first.
    let bounding = if effective.contains(&Capability::CAP_SETPCAP) {
        let held = read(CapSet::Bounding, "read the bounding set")?;
        caps::clear(None, CapSet::Bounding).map_err(fail("clear the bounding set"))?;
        Some(held)
    } else {
        None
    };
    if ambient_exists {
        caps::clear(None, CapSet::Ambient).map_err(fail("clear the ambient set"))?;
    }
    caps::clear(None, CapSet::Inheritable).map_err(fail("clear the inheritable set"))?;
    // Effective before permitted: the kernel requires effective ⊆ permitted.
    caps::clear(None, CapSet::Effective).map_err(fail("clear the effective set"))?;
    caps::clear(None, CapSet::Permitted).map_err(fail("clear the permitted set"))?;

    for (set, name) in [
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ] {
        let left = read(set, "read back the cleared sets")?;
        if !left.is_empty() {
            return Err(PrivilegeError::Kept {
                set: name,
                held: describe(&left),
            });
        }
    }

    let threads = std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count);
    if threads > 1 {
        tracing::warn!(
            threads,
            "capabilities dropped in one thread only; threads started earlier keep theirs"
        );
    }
    tracing::info!(
        effective = %describe(&effective),
        permitted = %describe(&permitted),
        inheritable = %describe(&inheritable),
        ambient = %describe(&ambient),
        bounding = %bounding.as_ref().map_or_else(|| "kept (no CAP_SETPCAP)".to_string(), describe),
        "capabilities dropped"
    );
    Ok(())
}

/// True when CAP_NET_RAW is known to be missing from the effective set
/// (false when the set cannot be read).
pub(super) fn lacks_net_raw() -> bool {
    matches!(
        caps::has_cap(None, CapSet::Effective, Capability::CAP_NET_RAW),
        Ok(false)
    )
}

/// A set for the log: "none"; "all (N)" when it holds every capability the
/// kernel knows (root), or "all except ... (N held)" when it lacks only a
/// few (root in a container); else the names in kernel order.
fn describe(set: &CapsHashSet) -> String {
    describe_within(set, &caps::runtime::thread_all_supported())
}

fn describe_within(set: &CapsHashSet, known: &CapsHashSet) -> String {
    let names = |s: &CapsHashSet| {
        let mut caps: Vec<&Capability> = s.iter().collect();
        caps.sort_by_key(|c| c.index());
        caps.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if set.is_empty() {
        return "none".into();
    }
    let missing: CapsHashSet = known.difference(set).copied().collect();
    match missing.len() {
        _ if set.len() <= 4 => names(set),
        0 => format!("all ({})", set.len()),
        1..=4 => format!("all except {} ({} held)", names(&missing), set.len()),
        _ => names(set),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_small_sets_in_kernel_order() {
        let known = caps::all();
        assert_eq!(describe_within(&CapsHashSet::new(), &known), "none");
        let set: CapsHashSet = [Capability::CAP_SETPCAP, Capability::CAP_NET_RAW]
            .into_iter()
            .collect();
        assert_eq!(describe_within(&set, &known), "CAP_SETPCAP,CAP_NET_RAW");
    }

    #[test]
    fn describe_summarises_root_sets() {
        let known = caps::all();
        assert_eq!(
            describe_within(&known, &known),
            format!("all ({})", known.len())
        );
        let mut most = known.clone();
        most.remove(&Capability::CAP_SYS_RESOURCE);
        assert_eq!(
            describe_within(&most, &known),
            format!("all except CAP_SYS_RESOURCE ({} held)", known.len() - 1)
        );
    }
}
