use std::collections::BTreeMap;

use super::{Existing, MergeSink, Row, Sink, Table, Value};
use crate::error::Result;

/// Keeps committed rows in memory: for tests, benches and embedding.
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Rows as the open transaction sees them (committed ones included).
    rows: Vec<Row>,
    /// The rows as of `prepare`, restored by `rollback`.
    before: Option<Vec<Row>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }
    /// Every committed row, in insertion order.
    pub fn rows(&self) -> &[Row] {
        self.before.as_deref().unwrap_or(&self.rows)
    }
    /// The committed rows of one table.
    pub fn table(&self, t: Table) -> impl Iterator<Item = &Row> {
        self.rows().iter().filter(move |r| r.table == t)
    }
    /// Committed row counts per table.
    pub fn counts(&self) -> BTreeMap<Table, usize> {
        let mut m = BTreeMap::new();
        for r in self.rows() {
            *m.entry(r.table).or_insert(0) += 1;
        }
        m
    }
}

impl Sink for MemorySink {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn prepare(&mut self, existing: Existing) -> Result<()> {
        if existing == Existing::Refuse && !self.rows.is_empty() {
            return Err(crate::error::ErrorKind::TargetNotEmpty {
                target: self.describe(),
                tables: self.counts().keys().map(|t| t.name().to_owned()).collect(),
            }
            .into());
        }
        self.before = Some(self.rows.clone());
        Ok(())
    }

    fn insert(&mut self, row: Row) -> Result<()> {
        debug_assert!(self.before.is_some(), "insert before prepare");
        self.rows.push(row);
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.before = None;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if let Some(rows) = self.before.take() {
            self.rows = rows;
        }
        Ok(())
    }

    fn as_merge(&mut self) -> Option<&mut dyn MergeSink> {
        Some(self)
    }
}

impl MergeSink for MemorySink {
    fn existing_ids(&mut self, table: Table) -> Result<Vec<String>> {
        Ok(self
            .table(table)
            .filter_map(|r| match r.values.first() {
                Some(Value::Text(t)) => Some(t.clone()),
                _ => None,
            })
            .collect())
    }

    fn find(&mut self, table: Table, key: &[Value]) -> Result<Option<Row>> {
        Ok(self
            .rows
            .iter()
            .find(|r| r.table == table && r.key().into_iter().eq(key.iter()))
            .cloned())
    }

    fn update(&mut self, row: Row) -> Result<()> {
        let key: Vec<Value> = row.key().into_iter().cloned().collect();
        match self
            .rows
            .iter_mut()
            .find(|r| r.table == row.table && r.key().into_iter().eq(key.iter()))
        {
            Some(r) => *r = row,
            None => self.rows.push(row),
        }
        Ok(())
    }

    fn delete(&mut self, table: Table, column: &str, value: &Value) -> Result<u64> {
        let before = self.rows.len();
        self.rows
            .retain(|r| !(r.table == table && r.get(column) == Some(value)));
        Ok((before - self.rows.len()) as u64)
    }

    fn names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .rows
            .iter()
            .filter(|r| r.table == table)
            .filter_map(|r| match (r.get("Id"), r.get(column)) {
                (Some(Value::Text(id)), Some(Value::Text(n))) => Some((id.clone(), n.clone())),
                _ => None,
            })
            .collect())
    }
}
