//! The reference app's feature flags, and what each one switches. Every
//! flag here is read by code (see each constant); `Flag::rollout` is there
//! for a flag that needs a gradual start.

use tenantry::config::{Flag, FlagSet};

use crate::plans::{ENTERPRISE, PRO};

/// `GET /api/invoices/export`: every invoice as CSV (403 while off).
pub(crate) const BULK_EXPORT: &str = "bulk_export";
/// The nightly overdue-invoice reminder e-mails.
pub(crate) const INVOICE_REMINDERS: &str = "invoice_reminders";

/// Every flag the app reads, with its defaults per plan.
pub(crate) fn flags() -> FlagSet {
    FlagSet::new()
        .with(
            Flag::new(BULK_EXPORT, "CSV export of every invoice")
                .on_for(PRO)
                .on_for(ENTERPRISE),
        )
        .with(Flag::new(INVOICE_REMINDERS, "Overdue-invoice reminder e-mails").on_for(ENTERPRISE))
}
