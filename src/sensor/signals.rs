//! SIGINT/SIGTERM as a stop flag the loops poll; SIGHUP as a reload flag.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A flag that SIGINT or SIGTERM sets, so that `run` and `analyze` stop
/// reading, flush every open flow and record how far they got. A second
/// signal while stopping ends the process at once (exit 1).
pub fn stop_flag() -> std::io::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag before this signal sets it.
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// A flag that SIGHUP sets: `run` reloads its rules and asset list (and
/// clears the flag) when it next looks.
pub fn reload_flag() -> std::io::Result<Arc<AtomicBool>> {
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))?;
    Ok(reload)
}
