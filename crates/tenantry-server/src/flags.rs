//! The reference app's feature flags, and what each one switches.

use tenantry::config::{Flag, FlagSet};

use crate::plans::{ENTERPRISE, PRO};

/// `GET /api/invoices/export`: every invoice as CSV (404 while off).
pub(crate) const BULK_EXPORT: &str = "bulk_export";
/// The invoice API's redesigned shape: amounts and dates rendered in the
/// tenant's currency and time zone beside the raw values.
pub(crate) const NEW_INVOICE_UI: &str = "new_invoice_ui";
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
        .with(
            Flag::new(
                NEW_INVOICE_UI,
                "Invoices rendered in the tenant's currency and time zone",
            )
            .rollout(25),
        )
        .with(Flag::new(INVOICE_REMINDERS, "Overdue-invoice reminder e-mails").on_for(ENTERPRISE))
}
