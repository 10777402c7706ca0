//! The Prometheus text exposition format, as much of it as we write.

use std::fmt::Write;

use super::histogram::{Histogram, LATENCY_BUCKETS};

/// `name{k="v",…}` with label values escaped.
pub(crate) fn series(out: &mut String, name: &str, labels: &[(&str, &str)]) {
    out.push_str(name);
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{key}=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// `# HELP` and `# TYPE` lines.
pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Every series of one histogram: buckets, sum and count.
pub(crate) fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &Histogram) {
    let cumulative = h.cumulative();
    for (i, count) in cumulative.iter().enumerate() {
        let le = LATENCY_BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
        let mut with_le = labels.to_vec();
        with_le.push(("le", le.as_str()));
        series(out, &format!("{name}_bucket"), &with_le);
        let _ = writeln!(out, " {count}");
    }
    series(out, &format!("{name}_sum"), labels);
    let _ = writeln!(out, " {}", h.sum_seconds());
    series(out, &format!("{name}_count"), labels);
    let _ = writeln!(out, " {}", cumulative.last().copied().unwrap_or(0));
}
