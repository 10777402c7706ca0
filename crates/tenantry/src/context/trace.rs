//! W3C trace context, as far as the tenant context needs it.
//!
//! A request's trace id is its request id's when that is a UUID (or 32 hex
//! digits), and a stable hash of it otherwise: a request, the jobs it
//! enqueued (which carry its request id) and the calls they made share one
//! trace, without the job row storing anything more.

/// A `traceparent`: the trace and the caller's span in it.
///
/// ```
/// use tenantry::context::TraceParent;
/// let parent = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
/// assert_eq!(parent.span_id, 0xb7ad6b7169203331);
/// assert_eq!(parent.header(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
/// assert!(TraceParent::parse("00-00000000000000000000000000000000-b7ad6b7169203331-01").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace (never 0).
    pub trace_id: u128,
    /// The caller's span (never 0).
    pub span_id: u64,
}

impl TraceParent {
    /// Parses a version-00 `traceparent` header; `None` for anything else.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if parts.next().is_some()
            || version != "00"
            || !hex(trace, 32)
            || !hex(span, 16)
            || !hex(flags, 2)
        {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        (trace_id != 0 && span_id != 0).then_some(Self { trace_id, span_id })
    }

    /// The header value (sampled).
    pub fn header(&self) -> String {
        format!("00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }
}

/// The trace id of the request `request_id`.
pub fn trace_id_of(request_id: &str) -> u128 {
    let hex: String = request_id.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32
        && let Ok(id) = u128::from_str_radix(&hex, 16)
        && id != 0
    {
        return id;
    }
    // FNV-1a, widened: stable for the same request id.
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in request_id.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    hash.max(1)
}
