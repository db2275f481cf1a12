//! The 3.x tables on the server: the check of what `INFORMATION_SCHEMA` says against
//! [`TABLES`] (a pure function over the columns read), and `--create-schema`'s DDL.

use tiberius::ColumnData;

use super::MssqlSink;
use crate::error::Result;
use crate::schema::{SqlType, TableDef, TABLES};

impl MssqlSink {
    /// Reads the columns of the dbo schema and checks ours against them.
    pub(super) fn check_schema(&mut self) -> Result<SchemaState> {
        let rows = self.select(
            "reading the schema",
            SCHEMA_QUERY,
            vec![ColumnData::String(Some("dbo".into()))],
        )?;
        let cols: Vec<DbColumn> = rows.into_iter().filter_map(DbColumn::from_row).collect();
        Ok(compare_schema(&cols))
    }

    pub(super) fn create_schema(&mut self) -> Result<()> {
        for def in TABLES {
            let what = format!("creating table {}", def.table);
            self.batch(&what, &create_table_sql_server(def))?;
        }
        Ok(())
    }
}

/// Every column of the schema `@P1`, with what the check needs.
pub(super) const SCHEMA_QUERY: &str = "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, \
     c.CHARACTER_MAXIMUM_LENGTH, \
     COLUMNPROPERTY(OBJECT_ID(QUOTENAME(c.TABLE_SCHEMA) + '.' + QUOTENAME(c.TABLE_NAME)), \
     c.COLUMN_NAME, 'IsIdentity') \
     FROM INFORMATION_SCHEMA.COLUMNS c WHERE c.TABLE_SCHEMA = @P1";

/// One column as the database has it.
#[derive(Debug, Clone, PartialEq)]
struct DbColumn {
    pub table: String,
    pub column: String,
    /// `DATA_TYPE`, e.g. `nvarchar`.
    pub data_type: String,
    /// `CHARACTER_MAXIMUM_LENGTH`: -1 for `max`, `None` for non-character types.
    pub max_length: Option<i32>,
    /// `COLUMNPROPERTY(..., 'IsIdentity')`; `None` when the server does not say (some
    /// SQL Server-compatible servers answer NULL), which the check does not hold against it.
    pub identity: Option<bool>,
}

impl DbColumn {
    fn from_row(r: Vec<ColumnData<'static>>) -> Option<DbColumn> {
        let mut it = r.into_iter();
        let text = |c: Option<ColumnData<'static>>| match c {
            Some(ColumnData::String(Some(s))) => Some(s.into_owned()),
            _ => None,
        };
        let table = text(it.next())?;
        let column = text(it.next())?;
        let data_type = text(it.next())?;
        let max_length = match it.next() {
            Some(ColumnData::I32(v)) => v,
            Some(ColumnData::I16(v)) => v.map(i32::from),
            _ => None,
        };
        let identity = match it.next() {
            Some(ColumnData::I32(Some(v))) => Some(v == 1),
            _ => None,
        };
        Some(DbColumn {
            table,
            column,
            data_type,
            max_length,
            identity,
        })
    }
}

/// How the database's schema compares with [`TABLES`].
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SchemaState {
    /// Every table and column is there with a compatible type.
    Complete,
    /// None of the tables exists (`--create-schema` may create them).
    Absent,
    /// Some exist: every missing table, missing column and type mismatch, one per entry.
    Mismatch(Vec<String>),
}

impl SchemaState {
    /// The error message for a state that does not let the migration start.
    pub(super) fn advice(&self, create_schema: bool) -> String {
        match self {
            SchemaState::Complete => "the schema is complete".into(),
            SchemaState::Absent => "the database has none of the Octopus 3.x tables: install \
                 Octopus 3.x against this database first, or use --create-schema to create them"
                .into(),
            SchemaState::Mismatch(problems) => format!(
                "the database does not have the Octopus 3.x schema this tool writes ({}): install \
                 Octopus 3.x against this database, or use --create-schema on an empty \
                 database{}",
                problems.join("; "),
                if create_schema {
                    " (--create-schema only creates tables in a database that has none of them)"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Compares what the database has with what [`TABLES`] needs.
fn compare_schema(db: &[DbColumn]) -> SchemaState {
    let mut problems = Vec::new();
    let mut any_table = false;
    for def in TABLES {
        let name = def.table.name();
        let cols: Vec<&DbColumn> = db
            .iter()
            .filter(|c| c.table.eq_ignore_ascii_case(name))
            .collect();
        if cols.is_empty() {
            problems.push(format!("table {name} is missing"));
            continue;
        }
        any_table = true;
        for c in def.columns {
            match cols.iter().find(|d| d.column.eq_ignore_ascii_case(c.name)) {
                None => problems.push(format!("column {name}.{} is missing", c.name)),
                Some(d) => {
                    if let Some(why) = type_mismatch(c.ty, d) {
                        problems.push(format!("column {name}.{} {why}", c.name));
                    }
                }
            }
        }
    }
    match (any_table, problems.is_empty()) {
        (false, _) => SchemaState::Absent,
        (true, true) => SchemaState::Complete,
        (true, false) => SchemaState::Mismatch(problems),
    }
}

/// Why the database column `d` cannot hold values of `ours` (None: it can).
fn type_mismatch(ours: SqlType, d: &DbColumn) -> Option<String> {
    let dt = d.data_type.to_ascii_lowercase();
    let want = sql_server_type(ours);
    let have = match d.max_length {
        Some(-1) => format!("{dt}(max)"),
        Some(n) if dt == "nvarchar" => format!("{dt}({n})"),
        _ => dt.clone(),
    };
    let ok = match ours {
        SqlType::NVarChar(Some(n)) => {
            dt == "nvarchar" && matches!(d.max_length, Some(-1)) || {
                dt == "nvarchar" && d.max_length.is_some_and(|m| m >= 0 && m as u32 >= n)
            }
        }
        SqlType::NVarChar(None) => dt == "nvarchar" && d.max_length == Some(-1),
        SqlType::Int => dt == "int",
        SqlType::Bit => dt == "bit",
        SqlType::DateTimeOffset => dt == "datetimeoffset",
        SqlType::UniqueIdentifier => dt == "uniqueidentifier",
        SqlType::Identity => dt == "int" && d.identity != Some(false),
    };
    (!ok).then(|| format!("is {have}, needs {want}"))
}

/// The SQL Server type of a column, as `--create-schema` writes it and the schema check
/// expects it.
fn sql_server_type(ty: SqlType) -> String {
    match ty {
        SqlType::NVarChar(Some(n)) => format!("nvarchar({n})"),
        SqlType::NVarChar(None) => "nvarchar(max)".into(),
        SqlType::Int => "int".into(),
        SqlType::Bit => "bit".into(),
        SqlType::DateTimeOffset => "datetimeoffset".into(),
        SqlType::UniqueIdentifier => "uniqueidentifier".into(),
        SqlType::Identity => "int identity(1,1)".into(),
    }
}

/// `CREATE TABLE` for SQL Server (`--create-schema`), from the same definitions as SQLite's.
fn create_table_sql_server(def: &TableDef) -> String {
    let mut cols: Vec<String> = def
        .columns
        .iter()
        .map(|c| {
            format!(
                "[{}] {} {}",
                c.name,
                sql_server_type(c.ty),
                if c.nullable { "NULL" } else { "NOT NULL" }
            )
        })
        .collect();
    let pk = def
        .primary_key
        .iter()
        .map(|c| format!("[{c}]"))
        .collect::<Vec<_>>();
    cols.push(format!(
        "CONSTRAINT [PK_{}] PRIMARY KEY CLUSTERED ({})",
        def.table.name(),
        pk.join(", ")
    ));
    for u in def.unique {
        cols.push(format!(
            "CONSTRAINT [UQ_{}_{}] UNIQUE ({})",
            def.table.name(),
            u.join("_"),
            u.iter()
                .map(|c| format!("[{c}]"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    format!(
        "CREATE TABLE [dbo].[{}] (\n  {}\n)",
        def.table.name(),
        cols.join(",\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Table;

    #[test]
    fn the_schema_query_takes_the_schema_as_a_parameter() {
        assert!(SCHEMA_QUERY.contains("TABLE_SCHEMA = @P1"));
    }

    /// The database columns of `TABLES`, exactly as `--create-schema` makes them.
    fn full_schema() -> Vec<DbColumn> {
        let mut v = Vec::new();
        for def in TABLES {
            for c in def.columns {
                let (dt, len) = match c.ty {
                    SqlType::NVarChar(Some(n)) => ("nvarchar", Some(n as i32)),
                    SqlType::NVarChar(None) => ("nvarchar", Some(-1)),
                    SqlType::Int | SqlType::Identity => ("int", None),
                    SqlType::Bit => ("bit", None),
                    SqlType::DateTimeOffset => ("datetimeoffset", None),
                    SqlType::UniqueIdentifier => ("uniqueidentifier", None),
                };
                v.push(DbColumn {
                    table: def.table.name().into(),
                    column: c.name.into(),
                    data_type: dt.into(),
                    max_length: len,
                    identity: Some(c.ty == SqlType::Identity),
                });
            }
        }
        v
    }

    fn problems(db: &[DbColumn]) -> Vec<String> {
        match compare_schema(db) {
            SchemaState::Mismatch(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schema_check_all_present_absent_and_every_problem_listed() {
        assert_eq!(compare_schema(&full_schema()), SchemaState::Complete);
        // A server that does not say whether a column is an identity is taken at its word
        // for the type; only a definite "not identity" is a problem.
        let mut unsure = full_schema();
        for c in &mut unsure {
            c.identity = None;
        }
        assert_eq!(compare_schema(&unsure), SchemaState::Complete);
        assert_eq!(compare_schema(&[]), SchemaState::Absent);
        // Unrelated tables do not count as ours.
        let other = DbColumn {
            table: "Orders".into(),
            column: "Id".into(),
            data_type: "int".into(),
            max_length: None,
            identity: Some(false),
        };
        assert_eq!(compare_schema(&[other]), SchemaState::Absent);

        // A missing table.
        let db: Vec<DbColumn> = full_schema()
            .into_iter()
            .filter(|c| c.table != "Feed")
            .collect();
        assert_eq!(problems(&db), vec!["table Feed is missing".to_string()]);

        // A missing column, a too-short nvarchar, a wrong type; a longer or max nvarchar is fine.
        let mut db = full_schema();
        db.retain(|c| !(c.table == "Project" && c.column == "Slug"));
        for c in &mut db {
            match (c.table.as_str(), c.column.as_str()) {
                ("Project", "Name") => c.max_length = Some(100),
                ("Project", "IsDisabled") => c.data_type = "int".into(),
                ("Feed", "Name") => c.max_length = Some(-1),
                ("Feed", "FeedUri") => c.max_length = Some(4000),
                ("EventRelatedDocument", "Id") => c.identity = Some(false),
                _ => {}
            }
        }
        let p = problems(&db);
        assert_eq!(
            p,
            vec![
                "column EventRelatedDocument.Id is int, needs int identity(1,1)".to_string(),
                "column Project.Name is nvarchar(100), needs nvarchar(200)".to_string(),
                "column Project.Slug is missing".to_string(),
                "column Project.IsDisabled is int, needs bit".to_string(),
            ]
        );
        let advice = SchemaState::Mismatch(p).advice(false);
        assert!(advice.contains("install Octopus 3.x") && advice.contains("--create-schema"));

        // nvarchar(max) columns must be max.
        let mut db = full_schema();
        for c in &mut db {
            if c.table == "Project" && c.column == "JSON" {
                c.max_length = Some(4000);
            }
        }
        assert_eq!(
            problems(&db),
            vec!["column Project.JSON is nvarchar(4000), needs nvarchar(max)".to_string()]
        );
    }

    #[test]
    fn type_mapping_and_ddl() {
        assert_eq!(sql_server_type(SqlType::NVarChar(Some(50))), "nvarchar(50)");
        assert_eq!(sql_server_type(SqlType::NVarChar(None)), "nvarchar(max)");
        assert_eq!(sql_server_type(SqlType::DateTimeOffset), "datetimeoffset");
        let ddl = create_table_sql_server(Table::Project.def());
        assert!(ddl.contains("[Name] nvarchar(200) NOT NULL"), "{ddl}");
        assert!(ddl.contains("[VariableSetId] nvarchar(50) NULL"));
        assert!(ddl.contains("[IsDisabled] bit NOT NULL"));
        assert!(ddl.contains("CONSTRAINT [UQ_Project_Slug] UNIQUE ([Slug])"));
        let erd = create_table_sql_server(Table::EventRelatedDocument.def());
        assert!(erd.contains("[Id] int identity(1,1) NOT NULL"), "{erd}");
    }
}
