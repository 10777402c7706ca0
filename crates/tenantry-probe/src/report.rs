//! What the probe found.

use std::fmt;

/// The verdict on one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered as expected.
    Pass,
    /// A cross-tenant request was not refused as expected: a leak (or a
    /// tenant-spoofing hole).
    Leak,
    /// A positive control failed: the probe cannot vouch for this operation.
    ControlFailed,
    /// The operation takes ids but none could be supplied (no list endpoint,
    /// or the victim has no such resources).
    Untested,
}

/// One probe request and its verdict.
#[derive(Clone, Debug)]
pub struct Check {
    /// What was tried (`GET /api/orders/{id} with globex's orders id`).
    pub what: String,
    /// Expected status (0 when not applicable).
    pub expected: u16,
    /// Received status (0 when not sent).
    pub got: u16,
    /// Verdict.
    pub outcome: Outcome,
}

/// All checks of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every check, in the order run.
    pub checks: Vec<Check>,
}

impl Report {
    /// Checks that found a leak.
    pub fn leaks(&self) -> Vec<&Check> {
        self.with(&Outcome::Leak)
    }

    /// Checks whose positive control failed.
    pub fn failed_controls(&self) -> Vec<&Check> {
        self.with(&Outcome::ControlFailed)
    }

    /// Operations that could not be probed.
    pub fn untested(&self) -> Vec<&Check> {
        self.with(&Outcome::Untested)
    }

    /// Number of checks that passed.
    pub fn passed(&self) -> usize {
        self.with(&Outcome::Pass).len()
    }

    /// Clean: no leak, no failed control, nothing untested.
    pub fn is_clean(&self) -> bool {
        self.checks.iter().all(|c| c.outcome == Outcome::Pass)
    }

    fn with(&self, outcome: &Outcome) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| &c.outcome == outcome)
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let tag = match check.outcome {
                Outcome::Pass => "ok     ",
                Outcome::Leak => "LEAK   ",
                Outcome::ControlFailed => "CONTROL",
                Outcome::Untested => "UNTESTED",
            };
            writeln!(
                f,
                "{tag} {} (expected {}, got {})",
                check.what, check.expected, check.got
            )?;
        }
        let failed = self.checks.len() - self.passed();
        write!(
            f,
            "probe: {} passed, {failed} failed ({} leaks, {} failed controls, {} untested)",
            self.passed(),
            self.leaks().len(),
            self.failed_controls().len(),
            self.untested().len()
        )
    }
}
