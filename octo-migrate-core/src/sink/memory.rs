use std::collections::BTreeMap;

use super::{Row, Sink, Table};
use crate::error::Result;

/// Keeps committed rows in memory: for tests, benches and embedding.
#[derive(Debug, Default)]
pub struct MemorySink {
    pending: Vec<Row>,
    committed: Vec<Row>,
    prepared: bool,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }
    /// Every committed row, in insertion order.
    pub fn rows(&self) -> &[Row] {
        &self.committed
    }
    /// The committed rows of one table.
    pub fn table(&self, t: Table) -> impl Iterator<Item = &Row> {
        self.committed.iter().filter(move |r| r.table == t)
    }
    /// Committed row counts per table.
    pub fn counts(&self) -> BTreeMap<Table, usize> {
        let mut m = BTreeMap::new();
        for r in &self.committed {
            *m.entry(r.table).or_insert(0) += 1;
        }
        m
    }
}

impl Sink for MemorySink {
    fn describe(&self) -> String {
        "memory".to_owned()
    }
    fn prepare(&mut self) -> Result<()> {
        if !self.committed.is_empty() {
            return Err(crate::error::ErrorKind::TargetNotEmpty {
                target: self.describe(),
                tables: self.counts().keys().map(|t| t.name().to_owned()).collect(),
            }
            .into());
        }
        self.prepared = true;
        Ok(())
    }
    fn insert(&mut self, row: Row) -> Result<()> {
        debug_assert!(self.prepared, "insert before prepare");
        self.pending.push(row);
        Ok(())
    }
    fn commit(&mut self) -> Result<()> {
        self.committed.append(&mut self.pending);
        self.prepared = false;
        Ok(())
    }
    fn rollback(&mut self) -> Result<()> {
        self.pending.clear();
        self.prepared = false;
        Ok(())
    }
    fn existing_ids(&mut self, table: Table) -> Result<Vec<String>> {
        Ok(self
            .table(table)
            .filter_map(|r| match r.values.first() {
                Some(super::Value::Text(t)) => Some(t.clone()),
                _ => None,
            })
            .collect())
    }
}
