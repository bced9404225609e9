//! SQL from the client: `query(sql, params)` and the fluent
//! `table(t).select(..).where_(..).order_by(..).limit(..).execute()`.

use std::time::Duration;

use deeplake_sql::{rows, Deadline, QueryOutput, Row, Select, SqlError};
use deeplake_types::Value;

use crate::client::Client;
use crate::error::{ClientError, ErrorKind, Result};
use crate::runtime::{run_stoppable, Stopped};
use crate::Cancel;

impl Client {
    /// Runs one SQL statement (`$1..$n` bound to `params`) and returns its
    /// rows in column order. Every failure is a `TableError("Query failed: ...")`.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.query_within(sql, params, None)
    }

    /// Like [`Client::query`], as Arrow record batches (for large results).
    pub fn query_arrow(&self, sql: &str, params: &[Value]) -> Result<QueryOutput> {
        self.query_arrow_within(sql, params, None)
    }

    /// [`Client::query`] cancelled once `timeout` passes (the reference's
    /// `query(sql, params, timeout=60)`), worded as PostgreSQL words a
    /// statement timeout.
    pub fn query_within(
        &self,
        sql: &str,
        params: &[Value],
        timeout: Option<Duration>,
    ) -> Result<Vec<Row>> {
        self.query_until(sql, params, timeout, &Cancel::default())
    }

    /// [`Client::query_within`], also stopped when `cancel` is raised, as
    /// [`Client::query_arrow_until`].
    pub fn query_until(
        &self,
        sql: &str,
        params: &[Value],
        timeout: Option<Duration>,
        cancel: &Cancel,
    ) -> Result<Vec<Row>> {
        Ok(rows(
            &self.query_arrow_until(sql, params, timeout, cancel)?,
        )?)
    }

    /// [`Client::query_arrow`] with a timeout, as [`Client::query_within`].
    pub fn query_arrow_within(
        &self,
        sql: &str,
        params: &[Value],
        timeout: Option<Duration>,
    ) -> Result<QueryOutput> {
        self.query_arrow_until(sql, params, timeout, &Cancel::default())
    }

    /// [`Client::query_arrow_within`], also stopped as soon as `cancel` is
    /// raised from another thread (a Ctrl-C), with kind `Cancelled`.
    pub fn query_arrow_until(
        &self,
        sql: &str,
        params: &[Value],
        timeout: Option<Duration>,
        cancel: &Cancel,
    ) -> Result<QueryOutput> {
        // One deadline: the engine (or the server) stops the statement at
        // it, and this thread stops waiting at it (plus the time an answer
        // takes to come back) even while every worker computes.
        let deadline = timeout.map(Deadline::after);
        let wait = deadline.map(|d| d.at + self.tables.answer_slack());
        let statement = self
            .tables
            .clone()
            .query_arrow(sql.to_string(), params.to_vec(), deadline);
        match run_stoppable(&self.rt, statement, wait, cancel) {
            Ok(out) => out,
            Err(Stopped::Cancelled) => Err(ClientError::query_cancelled()),
            Err(Stopped::Deadline) => {
                let d = deadline.unwrap_or_else(|| Deadline::after(Duration::ZERO));
                Err(d.error().into())
            }
            Err(Stopped::Lost) => Err(ClientError::table(
                "Query failed: the statement stopped without a result",
            )
            .with_kind(ErrorKind::Internal)),
        }
    }

    /// The fluent query builder over `table`.
    pub fn table(&self, table: &str) -> TableQuery<'_> {
        TableQuery {
            client: self,
            select: Ok(Select::new(table)),
        }
    }
}

/// A query being built; nothing runs until [`TableQuery::execute`].
/// See [`deeplake_sql::builder`] for how `where_` numbers placeholders.
pub struct TableQuery<'c> {
    client: &'c Client,
    /// The first builder error is kept and reported by `execute`, so calls chain.
    select: std::result::Result<Select, SqlError>,
}

impl TableQuery<'_> {
    fn map(mut self, f: impl FnOnce(Select) -> std::result::Result<Select, SqlError>) -> Self {
        self.select = self.select.and_then(f);
        self
    }

    /// Result columns (any SQL expressions); the default is `*`.
    pub fn select<S: AsRef<str>>(self, columns: impl IntoIterator<Item = S>) -> Self {
        let cols: Vec<String> = columns
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        self.map(|s| Ok(s.select(cols)))
    }

    /// Adds a condition with its parameters; several conditions are ANDed.
    pub fn where_(self, condition: &str, params: Vec<Value>) -> Self {
        self.map(|s| s.where_(condition, params))
    }

    pub fn order_by(self, clause: &str) -> Self {
        self.map(|s| Ok(s.order_by(clause)))
    }

    pub fn limit(self, n: u64) -> Self {
        self.map(|s| Ok(s.limit(n)))
    }

    pub fn offset(self, n: u64) -> Self {
        self.map(|s| Ok(s.offset(n)))
    }

    /// The SQL and parameters this builder will run.
    pub fn to_sql(&self) -> Result<(String, Vec<Value>)> {
        match &self.select {
            Ok(s) => Ok((s.sql(), s.params().to_vec())),
            Err(e) => Err(e.clone().into()),
        }
    }

    pub fn execute(&self) -> Result<Vec<Row>> {
        let (sql, params) = self.to_sql()?;
        self.client.query(&sql, &params)
    }
}
