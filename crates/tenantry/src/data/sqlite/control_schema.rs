//! The control plane's migrations on SQLite (its stores are written once,
//! over [`ControlDb`](crate::data::control::ControlDb)).

use crate::data::Migration;

/// Control-plane migrations for `control.db`.
pub const CONTROL_MIGRATIONS: &[Migration] =
    crate::data::migration::control_plane_migrations!("sqlite");
