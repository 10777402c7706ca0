//! What commands print for people and pipes. A reader that goes away
//! (`tenantry tenants list | head -1`) ends the command quietly, as it
//! does for any Unix tool, instead of a panic on the broken pipe.

use std::io::Write;

/// Writes one line to standard output; exits with success when the reader
/// has closed the pipe.
pub(crate) fn line(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("writing to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` for command output, through [`line`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;
