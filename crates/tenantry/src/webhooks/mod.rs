//! Outbound webhooks: signatures receivers can verify, and a guard that
//! keeps tenant-supplied URLs away from the internal network.
//!
//! A tenant chooses where its webhooks go, so a webhook URL is attacker-
//! controlled input: `http://169.254.169.254/` (cloud metadata) or
//! `http://10.0.0.5:6379/` must not be reachable through it.
//! [`DestinationGuard`] resolves the host and refuses private, loopback,
//! link-local and other internal addresses unless allow-listed, and returns
//! the addresses it vetted so the caller connects to exactly those (no
//! second DNS lookup that could be rebound).

mod destination;
mod signature;

pub use destination::{DestinationError, DestinationGuard, ResolveFailure};
pub use signature::{SIGNATURE_HEADER, SignatureError, sign, verify};
