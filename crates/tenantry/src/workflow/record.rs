//! Workflow and step records, as stored and shown.

use std::time::SystemTime;

use serde::Serialize;

use crate::context::TenantId;

/// A workflow's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct WorkflowId(pub i64);

impl std::fmt::Display for WorkflowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The lowercase name used in storage and output.
            pub const fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// The state named `text` in storage.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names! {
    /// Where a workflow is.
    WorkflowState {
        /// Its steps are being run.
        Running = "running",
        /// Every step is done.
        Succeeded = "succeeded",
        /// A step failed; the done steps are being undone, newest first.
        Compensating = "compensating",
        /// A step failed (and what could be undone was).
        Failed = "failed",
        /// Stopped by an operator (and what could be undone was).
        Cancelled = "cancelled",
    }
}

names! {
    /// Where a step is.
    StepState {
        /// Not started.
        Pending = "pending",
        /// Started (by a process that may since have died).
        Running = "running",
        /// Finished.
        Done = "done",
        /// Out of attempts.
        Failed = "failed",
        /// Being undone.
        Compensating = "compensating",
        /// Undone.
        Compensated = "compensated",
    }
}

impl WorkflowState {
    /// Whether the workflow still has work to do.
    pub const fn is_live(&self) -> bool {
        matches!(self, Self::Running | Self::Compensating)
    }
}

impl StepState {
    /// Whether the step is in progress (and so may be past its deadline).
    pub const fn is_active(&self) -> bool {
        matches!(self, Self::Running | Self::Compensating)
    }
}

/// One step of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    /// Its place, from 0.
    pub position: u32,
    /// Its name.
    pub name: String,
    /// Where it is.
    pub state: StepState,
    /// Attempts so far (the run's and the compensation's).
    pub attempts: u32,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// When its last attempt started.
    #[serde(with = "unix_ms_opt")]
    pub started_at: Option<SystemTime>,
    /// When it reached a final state.
    #[serde(with = "unix_ms_opt")]
    pub finished_at: Option<SystemTime>,
    /// When its current attempt is due to have finished.
    #[serde(with = "unix_ms_opt")]
    pub deadline_at: Option<SystemTime>,
}

/// A workflow and its steps.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkflowRecord {
    /// Its id.
    pub id: WorkflowId,
    /// The tenant it is for.
    pub tenant: TenantId,
    /// Its kind.
    pub kind: String,
    /// Where it is.
    pub state: WorkflowState,
    /// What its steps read.
    pub input: serde_json::Value,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Who asked.
    pub requested_by: Option<String>,
    /// When it started.
    #[serde(with = "unix_ms")]
    pub created_at: SystemTime,
    /// When it last changed.
    #[serde(with = "unix_ms")]
    pub updated_at: SystemTime,
    /// When it reached a final state.
    #[serde(with = "unix_ms_opt")]
    pub finished_at: Option<SystemTime>,
    /// Its steps, in order.
    pub steps: Vec<StepRecord>,
}

impl WorkflowRecord {
    /// The step in progress past its deadline at `now`, if any.
    pub fn overdue_step(&self, now: SystemTime) -> Option<&StepRecord> {
        if !self.state.is_live() {
            return None;
        }
        self.steps
            .iter()
            .find(|s| s.state.is_active() && s.deadline_at.is_some_and(|d| d < now))
    }
}

pub(crate) fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

mod unix_ms {
    pub(super) fn serialize<S: serde::Serializer>(
        t: &std::time::SystemTime,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_i64(super::to_ms(*t))
    }
}

mod unix_ms_opt {
    pub(super) fn serialize<S: serde::Serializer>(
        t: &Option<std::time::SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::to_ms(*t)),
            None => s.serialize_none(),
        }
    }
}
