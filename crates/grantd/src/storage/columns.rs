//! Decoding text and JSON columns into their types, once, as rows are read.
//!
//! A value that does not decode is an error naming its table and column
//! ([`CorruptColumn`], surfaced as `StoreError::Corrupt`): reading a
//! corrupt status as `working` or corrupt metadata as empty would hide the
//! damage and then write the default back over it.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Decode, Row, Type};
use std::fmt::Display;

/// `FromRow` for a row struct, each field read from the column of its name
/// by a [`Columns`] method: `get` (as the driver decodes it), `parse`,
/// `parse_opt`, `json`, `json_opt`, or `json_opt_of(table, column)` for a
/// joined table's column selected under the field's name.
macro_rules! row_from_columns {
    ($row:ident in $table:literal {
        $($field:ident: $how:ident $(($($arg:expr),*))?),+ $(,)?
    }) => {
        impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for $row {
            fn from_row(row: &'r sqlx::any::AnyRow) -> sqlx::Result<Self> {
                let c = $crate::storage::columns::Columns::of(row, $table);
                Ok($row {
                    $($field: c.$how(stringify!($field) $($(, $arg)*)?)?),+
                })
            }
        }
    };
}
pub(super) use row_from_columns;

/// A stored value that does not decode into its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table}.{column}: {reason}")]
pub struct CorruptColumn {
    pub table: &'static str,
    pub column: &'static str,
    pub reason: String,
}

/// One row's columns, read as the columns of `table`.
#[derive(Clone, Copy)]
pub(super) struct Columns<'r> {
    row: &'r AnyRow,
    table: &'static str,
}

impl<'r> Columns<'r> {
    pub(super) fn of(row: &'r AnyRow, table: &'static str) -> Self {
        Columns { row, table }
    }

    /// A column as the driver decodes it.
    pub(super) fn get<T>(&self, column: &'static str) -> sqlx::Result<T>
    where
        T: Decode<'r, Any> + Type<Any>,
    {
        self.row.try_get(column)
    }

    /// A text column holding one of a type's names.
    pub(super) fn parse<T>(&self, column: &'static str) -> sqlx::Result<T>
    where
        T: std::str::FromStr,
        T::Err: Display,
    {
        let text: String = self.get(column)?;
        text.parse().map_err(|e| self.corrupt(column, column, e))
    }

    /// A nullable text column holding one of a type's names.
    pub(super) fn parse_opt<T>(&self, column: &'static str) -> sqlx::Result<Option<T>>
    where
        T: std::str::FromStr,
        T::Err: Display,
    {
        let text: Option<String> = self.get(column)?;
        text.map(|text| text.parse())
            .transpose()
            .map_err(|e| self.corrupt(column, column, e))
    }

    /// A text column holding JSON.
    pub(super) fn json<T: DeserializeOwned>(&self, column: &'static str) -> sqlx::Result<T> {
        let text: String = self.get(column)?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(column, column, e))
    }

    /// A nullable text column of a joined `table` holding JSON, selected as `alias`.
    pub(super) fn json_opt_of<T: DeserializeOwned>(
        &self,
        alias: &'static str,
        table: &'static str,
        column: &'static str,
    ) -> sqlx::Result<Option<T>> {
        let text: Option<String> = self.get(alias)?;
        text.map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| Columns { table, ..*self }.corrupt(alias, column, e))
    }

    pub(super) fn json_opt<T: DeserializeOwned>(
        &self,
        column: &'static str,
    ) -> sqlx::Result<Option<T>> {
        self.json_opt_of(column, self.table, column)
    }

    fn corrupt(&self, alias: &str, column: &'static str, reason: impl Display) -> sqlx::Error {
        sqlx::Error::ColumnDecode {
            index: alias.to_owned(),
            source: Box::new(CorruptColumn {
                table: self.table,
                column,
                reason: reason.to_string(),
            }),
        }
    }
}

/// The JSON text a column stores for `value`.
pub(super) fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("maps, lists and plain structs always serialize")
}
