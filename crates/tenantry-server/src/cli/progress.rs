//! A workflow's progress on the terminal: a bar of its steps on standard
//! error when that is a terminal, one line per finished step otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use tenantry::workflow::{StepState, WorkflowRecord};

/// Shows a workflow's steps as they finish.
pub(crate) struct WorkflowBar {
    bar: Option<ProgressBar>,
}

impl WorkflowBar {
    /// A bar when standard error is a terminal; nothing otherwise.
    pub(crate) fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        Self { bar }
    }

    /// Updates the bar from `record`.
    pub(crate) fn show(&self, record: &WorkflowRecord) {
        let Some(bar) = &self.bar else {
            return;
        };
        let done = record
            .steps
            .iter()
            .filter(|s| s.state == StepState::Done)
            .count();
        let current = record
            .steps
            .iter()
            .find(|s| s.state.is_active())
            .map(|s| format!("{} ({})", s.name, s.state))
            .unwrap_or_default();
        bar.set_prefix(format!("{} {}", record.kind, record.id));
        bar.set_length(record.steps.len() as u64);
        bar.set_position(done as u64);
        bar.set_message(current);
    }

    /// Clears the bar and says how the workflow ended.
    pub(crate) fn finish(&self, record: &WorkflowRecord) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{} {}: {}", record.kind, record.id, record.state);
    }
}
