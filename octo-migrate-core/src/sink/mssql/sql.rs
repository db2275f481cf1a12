//! SQL text: only names from [`TABLES`], values always as `@Pn` parameters.

use crate::schema::{Column, SqlType, TableDef, TABLES};

/// `[dbo].[Table]`.
pub(super) fn bracketed_table(def: &TableDef) -> String {
    format!("[dbo].[{}]", def.table.name())
}

/// The columns a [`Row`](crate::sink::Row) carries values for (identity columns are generated
/// by the server).
pub(super) fn value_columns(def: &TableDef) -> impl Iterator<Item = &'static Column> {
    def.columns.iter().filter(|c| c.ty != SqlType::Identity)
}

/// The definition's column called `name` (so SQL text never holds a caller's string).
pub(super) fn column(def: &TableDef, name: &str) -> Option<&'static Column> {
    def.columns.iter().find(|c| c.name == name)
}

fn bracketed_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("[{n}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[a] = @Pn AND [b] = @Pn+1`, parameters numbered from `first`.
fn key_condition(def: &TableDef, first: usize) -> String {
    def.primary_key
        .iter()
        .enumerate()
        .map(|(i, c)| format!("[{c}] = @P{}", first + i))
        .collect::<Vec<_>>()
        .join(" AND ")
}

pub(super) fn insert_sql(def: &TableDef) -> String {
    let cols: Vec<&str> = value_columns(def).map(|c| c.name).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("@P{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        bracketed_table(def),
        bracketed_list(cols.iter().copied()),
        params.join(", ")
    )
}

pub(super) fn find_sql(def: &TableDef) -> String {
    format!(
        "SELECT {} FROM {} WHERE {}",
        bracketed_list(value_columns(def).map(|c| c.name)),
        bracketed_table(def),
        key_condition(def, 1)
    )
}

/// Sets every value column (as SQLite's sink does), then the key as parameters after them.
pub(super) fn update_sql(def: &TableDef) -> String {
    let set: Vec<String> = value_columns(def)
        .enumerate()
        .map(|(i, c)| format!("[{}] = @P{}", c.name, i + 1))
        .collect();
    format!(
        "UPDATE {} SET {} WHERE {}",
        bracketed_table(def),
        set.join(", "),
        key_condition(def, set.len() + 1)
    )
}

pub(super) fn delete_sql(def: &TableDef, c: &Column) -> String {
    format!(
        "DELETE FROM {} WHERE [{}] = @P1",
        bracketed_table(def),
        c.name
    )
}

pub(super) fn names_sql(def: &TableDef, c: &Column) -> String {
    format!("SELECT [Id], [{}] FROM {}", c.name, bracketed_table(def))
}

pub(super) fn all_rows_sql(def: &TableDef) -> String {
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        bracketed_list(value_columns(def).map(|c| c.name)),
        bracketed_table(def),
        bracketed_list(def.primary_key.iter().copied())
    )
}

/// One row of 0/1 per table of [`TABLES`], in order: 1 if the table has a row.
pub(super) fn emptiness_sql() -> String {
    let cols: Vec<String> = TABLES
        .iter()
        .map(|d| {
            format!(
                "CASE WHEN EXISTS (SELECT * FROM {}) THEN 1 ELSE 0 END",
                bracketed_table(d)
            )
        })
        .collect();
    format!("SELECT {}", cols.join(",\n  "))
}

#[cfg(test)]
mod tests {
    use super::super::schema_check::SCHEMA_QUERY;
    use super::*;
    use crate::sink::Table;

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
            let n = value_columns(def).count();
            let ins = insert_sql(def);
            assert_only_names_and_placeholders(&ins);
            assert!(ins.contains(&format!("@P{n})")), "{ins}");
            assert!(!ins.contains(&format!("@P{}", n + 1)));
            let upd = update_sql(def);
            assert_only_names_and_placeholders(&upd);
            let first_key = def.primary_key[0];
            assert!(
                upd.contains(&format!("WHERE [{first_key}] = @P{}", n + 1)),
                "{upd}"
            );
            assert_only_names_and_placeholders(&find_sql(def));
            assert_only_names_and_placeholders(&all_rows_sql(def));
            for c in def.columns {
                assert_only_names_and_placeholders(&delete_sql(def, c));
                assert_only_names_and_placeholders(&names_sql(def, c));
            }
        }
        assert_only_names_and_placeholders(&emptiness_sql());
        let erd = insert_sql(Table::EventRelatedDocument.def());
        assert_eq!(
            erd,
            "INSERT INTO [dbo].[EventRelatedDocument] ([RelatedDocumentId], [EventId]) VALUES (@P1, @P2)"
        );
        // The schema query takes the schema as a parameter.
        assert!(SCHEMA_QUERY.contains("TABLE_SCHEMA = @P1"));
    }
}
