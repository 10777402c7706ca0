//! The reference app's own tables (users, orders, invoices, webhook
//! deliveries), as tenant-plane migrations for each database.

use tenantry::data::Migration;

/// The reference app's tenant-plane migrations for PostgreSQL (schema `public`).
pub const PG_APP_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "app",
        sql: include_str!("../migrations/postgres/0001_app.sql"),
    },
    Migration {
        version: 2,
        name: "webhook_deliveries",
        sql: include_str!("../migrations/postgres/0002_webhook_deliveries.sql"),
    },
];

/// The reference app's tenant-plane migrations for SQLite (`shared.db`).
pub const SQLITE_APP_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "app",
        sql: include_str!("../migrations/sqlite/0001_app.sql"),
    },
    Migration {
        version: 2,
        name: "webhook_deliveries",
        sql: include_str!("../migrations/sqlite/0002_webhook_deliveries.sql"),
    },
];
