//! [`Value`] as a PostgreSQL parameter.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::data::Value;

type BoxError = Box<dyn Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Bool(b) => b.to_sql_checked(ty, out),
            // The server picks the parameter's type from the statement; narrow
            // (with a range check) rather than send the wrong width.
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql_checked(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql_checked(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql_checked(ty, out),
                _ => i.to_sql_checked(ty, out),
            },
            Value::Float(f) => f.to_sql_checked(ty, out),
            Value::Text(s) if *ty == Type::UUID => {
                uuid::Uuid::parse_str(s)?.to_sql_checked(ty, out)
            }
            // JSON text into a `json`/`jsonb` column (version 1 of jsonb's
            // binary form is the text itself).
            Value::Text(s) if *ty == Type::JSONB => {
                out.put_u8(1);
                out.put_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            Value::Text(s) if *ty == Type::JSON => {
                out.put_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            Value::Text(s) => s.to_sql_checked(ty, out),
            Value::Uuid(u) if *ty == Type::TEXT || *ty == Type::VARCHAR => {
                u.to_string().to_sql_checked(ty, out)
            }
            Value::Uuid(u) => u.to_sql_checked(ty, out),
            Value::Timestamp(t) => t.to_sql_checked(ty, out),
            Value::Blob(b) => b.to_sql_checked(ty, out),
        }
    }

    // Each variant delegates to its inner type's `to_sql_checked`, which
    // refuses a column type that inner type does not accept.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(crate) fn as_sql_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}
