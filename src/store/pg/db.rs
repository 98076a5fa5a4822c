//! A connection or transaction with its prepared statements: each SQL text
//! is parsed once per connection, then only bound and executed (one round
//! trip instead of two). The statements belong to the connection, so the
//! cache is emptied whenever the connection is replaced.

use postgres::types::ToSql;
use postgres::{Error, GenericClient, Row, Statement};
use std::collections::HashMap;

/// Prepared statements of one connection, by SQL text.
pub(super) type Statements = HashMap<&'static str, Statement>;

pub(super) struct Db<'a, C: GenericClient> {
    pub(super) c: &'a mut C,
    pub(super) stmts: &'a mut Statements,
}

impl<'a, C: GenericClient> Db<'a, C> {
    pub(super) fn new(c: &'a mut C, stmts: &'a mut Statements) -> Db<'a, C> {
        Db { c, stmts }
    }

    fn prepared(&mut self, sql: &'static str) -> Result<Statement, Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.c.prepare(sql)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    pub(super) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let s = self.prepared(sql)?;
        self.c.execute(&s, params)
    }

    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let s = self.prepared(sql)?;
        self.c.query(&s, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let s = self.prepared(sql)?;
        self.c.query_opt(&s, params)
    }

    pub(super) fn query_one(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let s = self.prepared(sql)?;
        self.c.query_one(&s, params)
    }
}
