//! This process's names in the control plane: under them it takes jobs
//! (leases) and acknowledges tenant changes (see `tenantry::fence`).

/// The name this process's acknowledger goes by: [`process_name`], and a
/// number after it for a second server in the same process (tests).
pub(crate) fn serving_name() -> String {
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    match SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
        0 => process_name(),
        n => format!("{}/{}", process_name(), n + 1),
    }
}

/// `host:pid`: unique among the processes alive at one time.
pub(crate) fn process_name() -> String {
    format!("{}:{}", host(), std::process::id())
}

/// This machine's name: `HOSTNAME` when set, else the kernel's.
fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "tenantry".into())
}

/// Whether `name` is a server process of this machine that is no longer
/// running (killed, crashed): it cannot acknowledge anything, and need not
/// be waited for until its lease runs out.
pub(crate) fn is_dead_here(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("{}:", host())) else {
        return false;
    };
    let pid = rest.split('/').next().unwrap_or(rest);
    match pid.parse::<u32>() {
        Ok(pid) if pid != std::process::id() => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                && std::path::Path::new("/proc/self").exists()
        }
        _ => false,
    }
}

/// Signs off the server processes of this machine that died without
/// doing so (see [`is_dead_here`]).
pub(crate) async fn forget_dead_here(acks: &dyn tenantry::moves::RouteAcks) {
    let names = match acks.processes().await {
        Ok(names) => names,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the server processes");
            return;
        }
    };
    for name in names.into_iter().filter(|n| is_dead_here(n)) {
        match acks.forget(&name).await {
            Ok(()) => tracing::info!(process = %name, "signed off a server process that died here"),
            Err(e) => {
                tracing::warn!(error = %e, process = %name, "could not sign off a dead process")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_vanished_process_of_this_machine_is_dead() {
        assert!(!is_dead_here(&process_name()), "this one runs");
        assert!(!is_dead_here(&serving_name()));
        assert!(!is_dead_here("elsewhere.example:1"), "another machine's");
        assert!(!is_dead_here(&format!("{}:not-a-pid", host())));
        if std::path::Path::new("/proc/self").exists() {
            // Above the kernel's pid limit (2^22): no such process.
            assert!(is_dead_here(&format!("{}:99999999", host())));
            assert!(is_dead_here(&format!("{}:99999999/2", host())));
        }
    }
}
