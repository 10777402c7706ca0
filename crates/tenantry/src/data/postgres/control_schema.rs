//! The control plane's schema and migrations on PostgreSQL (its stores
//! are written once, over [`ControlDb`](crate::data::control::ControlDb)).

use crate::data::Migration;

/// The control-plane schema.
pub const CONTROL_SCHEMA: &str = "tenantry";

/// Control-plane migrations, applied to [`CONTROL_SCHEMA`].
pub const CONTROL_MIGRATIONS: &[Migration] =
    crate::data::migration::control_plane_migrations!("postgres");
