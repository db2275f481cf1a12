//! SQL text for every target and for `verify`, in one place. Only names from [`TABLES`]
//! ever appear in it, and values always as numbered parameters; the two dialects differ only
//! in how they quote names and number parameters.

use crate::schema::{Column, TableDef, TABLES};

/// The SQL spoken by a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `"Name"`, `?1`.
    Sqlite,
    /// `[Name]` in schema `dbo`, `@P1` (built with the `mssql` feature).
    #[cfg_attr(not(feature = "mssql"), allow(dead_code))]
    SqlServer,
}

impl Dialect {
    /// A column (or any) name, quoted.
    pub(crate) fn name(self, n: &str) -> String {
        match self {
            Dialect::Sqlite => format!("\"{n}\""),
            Dialect::SqlServer => format!("[{n}]"),
        }
    }
    /// The table, quoted (and in schema `dbo` on SQL Server).
    pub(crate) fn table(self, def: &TableDef) -> String {
        match self {
            Dialect::Sqlite => self.name(def.table.name()),
            Dialect::SqlServer => format!("[dbo].[{}]", def.table.name()),
        }
    }
    /// Parameter number `i` (from 1).
    fn param(self, i: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{i}"),
            Dialect::SqlServer => format!("@P{i}"),
        }
    }
    fn list<'a>(self, names: impl Iterator<Item = &'a str>) -> String {
        names.map(|n| self.name(n)).collect::<Vec<_>>().join(", ")
    }
    /// `a = ?n AND b = ?n+1` over the primary key, parameters numbered from `first`.
    fn key_condition(self, def: &TableDef, first: usize) -> String {
        def.primary_key
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} = {}", self.name(c), self.param(first + i)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Inserts a row's values (its value columns, in order).
    pub(crate) fn insert_sql(self, def: &TableDef) -> String {
        self.insert_sql_nulls(def, &[])
    }

    /// Inserts a row's values, the value columns `null[i]` marks written as the literal `NULL`
    /// (the column gives it its type) and the others as parameters numbered from 1 in column
    /// order. A `null` shorter than the columns leaves the rest as parameters.
    #[cfg_attr(not(feature = "mssql"), allow(dead_code))]
    pub(crate) fn insert_sql_nulls(self, def: &TableDef, null: &[bool]) -> String {
        let cols: Vec<&str> = def.value_columns().map(|c| c.name).collect();
        let mut n = 0;
        let values: Vec<String> = (0..cols.len())
            .map(|i| self.value(null.get(i).copied().unwrap_or(false), &mut n))
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.table(def),
            self.list(cols.iter().copied()),
            values.join(", ")
        )
    }

    /// `NULL`, or the next parameter (counting in `n`).
    fn value(self, null: bool, n: &mut usize) -> String {
        if null {
            "NULL".to_owned()
        } else {
            *n += 1;
            self.param(*n)
        }
    }

    /// The value columns of the row whose primary key is the parameters.
    pub(crate) fn find_sql(self, def: &TableDef) -> String {
        format!(
            "SELECT {} FROM {} WHERE {}",
            self.list(def.value_columns().map(|c| c.name)),
            self.table(def),
            self.key_condition(def, 1)
        )
    }

    /// Sets every value column, then the key as parameters after them.
    pub(crate) fn update_sql(self, def: &TableDef) -> String {
        self.update_sql_nulls(def, &[])
    }

    /// As [`Dialect::update_sql`], the value columns `null[i]` marks set to the literal `NULL`
    /// and left out of the parameter numbering (the key's parameters follow the others).
    #[cfg_attr(not(feature = "mssql"), allow(dead_code))]
    pub(crate) fn update_sql_nulls(self, def: &TableDef, null: &[bool]) -> String {
        let mut n = 0;
        let set: Vec<String> = def
            .value_columns()
            .enumerate()
            .map(|(i, c)| {
                let v = self.value(null.get(i).copied().unwrap_or(false), &mut n);
                format!("{} = {v}", self.name(c.name))
            })
            .collect();
        format!(
            "UPDATE {} SET {} WHERE {}",
            self.table(def),
            set.join(", "),
            self.key_condition(def, n + 1)
        )
    }

    /// Deletes the rows whose `c` is the parameter.
    pub(crate) fn delete_sql(self, def: &TableDef, c: &Column) -> String {
        format!(
            "DELETE FROM {} WHERE {} = {}",
            self.table(def),
            self.name(c.name),
            self.param(1)
        )
    }

    /// `Id` and `c` of every row.
    pub(crate) fn names_sql(self, def: &TableDef, c: &Column) -> String {
        format!(
            "SELECT {}, {} FROM {}",
            self.name("Id"),
            self.name(c.name),
            self.table(def)
        )
    }

    /// The primary key columns of every row.
    #[cfg_attr(not(feature = "mssql"), allow(dead_code))]
    pub(crate) fn keys_sql(self, def: &TableDef) -> String {
        format!(
            "SELECT {} FROM {}",
            self.list(def.primary_key.iter().copied()),
            self.table(def)
        )
    }

    /// `Id` of every row.
    pub(crate) fn ids_sql(self, def: &TableDef) -> String {
        format!("SELECT {} FROM {}", self.name("Id"), self.table(def))
    }

    /// [`Dialect::all_rows_sql`] for a table that lacks the columns `absent`: `NULL` is read
    /// in their place, and the order is by the key columns it has.
    pub(crate) fn rows_sql_without(self, def: &TableDef, absent: &[&str]) -> String {
        if absent.is_empty() {
            return self.all_rows_sql(def);
        }
        let cols: Vec<String> = def
            .value_columns()
            .map(|c| {
                if absent.contains(&c.name) {
                    "NULL".to_owned()
                } else {
                    self.name(c.name)
                }
            })
            .collect();
        let order: Vec<&str> = def
            .primary_key
            .iter()
            .copied()
            .filter(|k| !absent.contains(k))
            .collect();
        format!(
            "SELECT {} FROM {}{}",
            cols.join(", "),
            self.table(def),
            if order.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", self.list(order.into_iter()))
            }
        )
    }

    /// Every row's value columns, in primary-key order.
    pub(crate) fn all_rows_sql(self, def: &TableDef) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.list(def.value_columns().map(|c| c.name)),
            self.table(def),
            self.list(def.primary_key.iter().copied())
        )
    }

    /// One row of 0/1 per table of [`TABLES`], in order: 1 if the table has a row.
    #[cfg_attr(not(feature = "mssql"), allow(dead_code))]
    pub(crate) fn emptiness_sql(self) -> String {
        let cols: Vec<String> = TABLES
            .iter()
            .map(|d| {
                format!(
                    "CASE WHEN EXISTS (SELECT * FROM {}) THEN 1 ELSE 0 END",
                    self.table(d)
                )
            })
            .collect();
        format!("SELECT {}", cols.join(",\n  "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Table;

    const D: Dialect = Dialect::SqlServer;

    /// Every `[name]` in `sql` is a table or column name of TABLES (or dbo), and every value
    /// position is a `@Pn` placeholder: no quote character ever appears.
    fn assert_only_names_and_placeholders(sql: &str) {
        assert!(!sql.contains('\''), "{sql}");
        let names: Vec<&str> = TABLES
            .iter()
            .flat_map(|d| std::iter::once(d.table.name()).chain(d.columns.iter().map(|c| c.name)))
            .chain(["dbo"])
            .collect();
        for part in sql.split('[').skip(1) {
            let name = part.split(']').next().unwrap();
            assert!(names.contains(&name), "{name} in {sql}");
        }
    }

    #[test]
    fn sql_text_holds_only_names_from_tables_and_placeholders() {
        for def in TABLES {
            let n = def.value_columns().count();
            let ins = D.insert_sql(def);
            assert_only_names_and_placeholders(&ins);
            assert!(ins.contains(&format!("@P{n})")), "{ins}");
            assert!(!ins.contains(&format!("@P{}", n + 1)));
            let upd = D.update_sql(def);
            assert_only_names_and_placeholders(&upd);
            let first_key = def.primary_key[0];
            assert!(
                upd.contains(&format!("WHERE [{first_key}] = @P{}", n + 1)),
                "{upd}"
            );
            assert_only_names_and_placeholders(&D.find_sql(def));
            assert_only_names_and_placeholders(&D.keys_sql(def));
            assert_only_names_and_placeholders(&D.all_rows_sql(def));
            for c in def.columns {
                assert_only_names_and_placeholders(&D.delete_sql(def, c));
                assert_only_names_and_placeholders(&D.names_sql(def, c));
            }
        }
        assert_only_names_and_placeholders(&D.emptiness_sql());
        let erd = D.insert_sql(Table::EventRelatedDocument.def());
        assert_eq!(
            erd,
            "INSERT INTO [dbo].[EventRelatedDocument] ([RelatedDocumentId], [EventId]) VALUES (@P1, @P2)"
        );
    }

    #[test]
    fn nulls_are_literals_and_parameters_stay_consecutive() {
        let def = Table::EventRelatedDocument.def();
        assert_eq!(
            D.insert_sql_nulls(def, &[true, false]),
            "INSERT INTO [dbo].[EventRelatedDocument] ([RelatedDocumentId], [EventId]) VALUES (NULL, @P1)"
        );
        for def in TABLES {
            let n = def.value_columns().count();
            // Every other column NULL: the parameters are @P1.. without a gap.
            let null: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
            let params = null.iter().filter(|x| !**x).count();
            let ins = D.insert_sql_nulls(def, &null);
            assert_only_names_and_placeholders(&ins);
            assert_eq!(ins.matches("NULL").count(), n - params, "{ins}");
            assert_eq!(ins.matches("@P").count(), params, "{ins}");
            assert!(ins.contains(&format!("@P{params}")), "{ins}");
            assert!(!ins.contains(&format!("@P{}", params + 1)), "{ins}");
            let upd = D.update_sql_nulls(def, &null);
            assert_only_names_and_placeholders(&upd);
            let first_key = def.primary_key[0];
            assert!(
                upd.contains(&format!("WHERE [{first_key}] = @P{}", params + 1)),
                "{upd}"
            );
            assert_eq!(D.insert_sql_nulls(def, &[]), D.insert_sql(def));
        }
    }

    #[test]
    fn rows_of_a_table_without_some_columns_read_null_for_them() {
        let def = Table::Project.def();
        assert_eq!(D.rows_sql_without(def, &[]), D.all_rows_sql(def));
        let sql = D.rows_sql_without(def, &["Slug", "Id"]);
        assert!(sql.starts_with("SELECT NULL, [Name], NULL, "), "{sql}");
        assert!(!sql.contains("ORDER BY"), "{sql}");
        assert_only_names_and_placeholders(&sql);
    }

    #[test]
    fn sqlite_quotes_names_and_numbers_parameters() {
        let d = Dialect::Sqlite;
        assert_eq!(
            d.insert_sql(Table::EventRelatedDocument.def()),
            "INSERT INTO \"EventRelatedDocument\" (\"RelatedDocumentId\", \"EventId\") VALUES (?1, ?2)"
        );
        let def = Table::Project.def();
        let n = def.value_columns().count();
        assert!(d
            .update_sql(def)
            .ends_with(&format!("WHERE \"Id\" = ?{}", n + 1)));
        assert_eq!(d.ids_sql(def), "SELECT \"Id\" FROM \"Project\"");
    }
}
