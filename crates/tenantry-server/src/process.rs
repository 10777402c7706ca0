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
    format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "tenantry".into()),
        std::process::id()
    )
}
