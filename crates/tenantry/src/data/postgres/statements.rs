//! How statements reach the server: prepared and cached per connection, or
//! unnamed for a transaction-mode pooler; see [`Statements`].

use std::error::Error;
use std::sync::LazyLock;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{Format, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::data::Value;

/// How a [`PgDatabase`](super::PgDatabase) sends statements.
///
/// A prepared statement lives on one server connection. Connected directly
/// (or through a pooler in session mode) that connection is the client's for
/// as long as the client lives, so each statement is prepared once and
/// reused — the fast path, [`Statements::Prepared`]. Behind a pooler in
/// **transaction** mode (PgBouncer's `pool_mode = transaction`, the mode the
/// per-transaction tenant setting is made for) consecutive transactions may
/// run on different server connections, and a statement prepared in one is
/// missing in the next (`prepared statement "s12" does not exist`).
/// [`Statements::Unnamed`] then:
///
/// - sends tenant-scoped statements as unnamed ones, parsed, bound and run
///   in one message flight (`query_typed`), so the pipelined
///   `BEGIN; set tenant; statement; COMMIT` stays one round trip; their
///   parameters go in PostgreSQL's text format with their types left to the
///   server (timestamps and bytes excepted), so a statement means what it
///   means prepared;
/// - runs each control-plane statement in a transaction of its own, where
///   the driver prepares it, runs it and closes it on the one server
///   connection the pooler gave that transaction.
///
/// Session state cannot cross a transaction-mode pooler either: `LISTEN`
/// (job wake-ups) and migrations' DDL need a direct connection, which is why
/// they take their own URLs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Statements {
    /// Prepared once per connection and cached: for direct connections and
    /// session-mode poolers.
    #[default]
    Prepared,
    /// Never left on a server connection across transactions: for a
    /// transaction-mode pooler such as PgBouncer with
    /// `pool_mode = transaction`.
    Unnamed,
}

impl std::str::FromStr for Statements {
    type Err = String;

    /// `prepared` / `none` (a direct connection), or `unnamed` /
    /// `transaction` (behind a transaction-mode pooler).
    ///
    /// ```
    /// use tenantry::data::postgres::Statements;
    ///
    /// assert_eq!("transaction".parse(), Ok(Statements::Unnamed));
    /// assert_eq!("none".parse(), Ok(Statements::Prepared));
    /// assert!("statement".parse::<Statements>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "prepared" | "none" | "session" => Ok(Self::Prepared),
            "unnamed" | "transaction" => Ok(Self::Unnamed),
            other => Err(format!(
                "unknown pooler mode {other:?}: expected `none` (or `session`) or `transaction`"
            )),
        }
    }
}

/// OID 0: "unspecified" — the server infers the parameter's type from the
/// statement, as it does when preparing one.
static UNSPECIFIED: LazyLock<Type> =
    LazyLock::new(|| Type::new("unspecified".into(), 0, Kind::Pseudo, "pg_catalog".into()));

/// `params` for `query_typed`: each with the type it is sent as.
pub(crate) fn typed(params: &[Value]) -> Vec<(AsText<'_>, Type)> {
    params
        .iter()
        .map(|value| {
            let ty = match value {
                // Unambiguous, and cheaper to send as they are.
                Value::Timestamp(_) => Type::TIMESTAMPTZ,
                Value::Blob(_) => Type::BYTEA,
                _ => UNSPECIFIED.clone(),
            };
            (AsText(value), ty)
        })
        .collect()
}

/// A [`Value`] as an unnamed statement's parameter: in PostgreSQL's text
/// format with the type left to the server (a `Value::Text` bound to a
/// `uuid` column is parsed as one, as the prepared path converts it), except
/// timestamps and bytes, which go in binary as `timestamptz` and `bytea`.
pub(crate) struct AsText<'a>(&'a Value);

type BoxError = Box<dyn Error + Sync + Send>;

impl std::fmt::Debug for AsText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ToSql for AsText<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::Bool(b) => out.put_slice(if *b { b"t" } else { b"f" }),
            Value::Int(i) => out.put_slice(i.to_string().as_bytes()),
            Value::Float(f) => out.put_slice(float_text(*f).as_bytes()),
            Value::Text(s) => out.put_slice(s.as_bytes()),
            Value::Uuid(u) => out.put_slice(u.hyphenated().to_string().as_bytes()),
            Value::Timestamp(t) => return t.to_sql(ty, out),
            Value::Blob(b) => return b.to_sql(ty, out),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        match self.0 {
            Value::Timestamp(_) | Value::Blob(_) => Format::Binary,
            _ => Format::Text,
        }
    }

    to_sql_checked!();
}

/// `f` as `float8in` reads it (Rust spells infinity `inf`).
fn float_text(f: f64) -> String {
    if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Value) -> (String, Format) {
        let mut out = BytesMut::new();
        let param = AsText(&value);
        let null = param.to_sql(&UNSPECIFIED, &mut out).unwrap();
        assert!(matches!(null, IsNull::No));
        (
            String::from_utf8(out.to_vec()).unwrap(),
            param.encode_format(&UNSPECIFIED),
        )
    }

    #[test]
    fn values_are_spelled_as_postgres_reads_them() {
        assert_eq!(text(Value::Int(-42)).0, "-42");
        assert_eq!(text(Value::Bool(true)).0, "t");
        assert_eq!(text(Value::Float(f64::NEG_INFINITY)).0, "-Infinity");
        assert_eq!(text(Value::Float(0.1)).0, "0.1");
        let id = uuid::Uuid::from_u128(7);
        assert_eq!(text(Value::Uuid(id)).0, id.hyphenated().to_string());
        assert!(matches!(text(Value::Text("x".into())).1, Format::Text));
    }

    #[test]
    fn null_is_sent_as_null_and_bytes_in_binary() {
        let mut out = BytesMut::new();
        assert!(matches!(
            AsText(&Value::Null).to_sql(&UNSPECIFIED, &mut out).unwrap(),
            IsNull::Yes
        ));
        let params = [Value::Blob(vec![1, 2]), Value::Text("a".into())];
        let typed = typed(&params);
        assert_eq!(typed[0].1, Type::BYTEA);
        assert!(matches!(
            typed[0].0.encode_format(&typed[0].1),
            Format::Binary
        ));
        assert_eq!(typed[1].1.oid(), 0);
    }
}
