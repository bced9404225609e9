//! Whole-row selections as row positions. `SELECT * FROM t WHERE ...
//! ORDER BY ... LIMIT ...` over one table picks rows rather than computing
//! values, so a dataset view can keep just the positions of the rows it
//! picked and read them when they are used: a filtered view of a million
//! images then costs 8 bytes a row, not the images.

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, OrderByKind, Query, Select, SelectItem, SetExpr, Statement,
    TableFactor, Value, WildcardAdditionalOptions,
};

use crate::catalog::SCHEMA;
use crate::provider::ROW_POSITION;
use crate::rewrite::object_name;

/// Rewrites `stmt` to select [`ROW_POSITION`] when it selects whole rows of
/// `table` and nothing else; returns false, leaving `stmt` as it was,
/// when it does anything more (joins, grouping, computed columns...).
pub fn select_positions(stmt: &mut Statement, table: &str) -> bool {
    let Statement::Query(query) = stmt else {
        return false;
    };
    if !plain_query(query) {
        return false;
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    if !(whole_rows(select) && plain_select(select) && only_table(select, table)) {
        return false;
    }
    select.projection = vec![SelectItem::UnnamedExpr(Expr::Identifier(Ident::new(
        ROW_POSITION,
    )))];
    true
}

/// No CTEs, locking or vendor clauses, and no `ORDER BY <n>`: a column
/// number would point at the position column once the projection changes.
pub(crate) fn plain_query(query: &Query) -> bool {
    let by_number = match query.order_by.as_ref().map(|o| &o.kind) {
        Some(OrderByKind::Expressions(exprs)) => exprs
            .iter()
            .any(|e| matches!(&e.expr, Expr::Value(v) if matches!(v.value, Value::Number(..)))),
        Some(OrderByKind::All(_)) => true,
        None => false,
    };
    query.with.is_none()
        && query.fetch.is_none()
        && query.locks.is_empty()
        && query.for_clause.is_none()
        && query.settings.is_none()
        && query.format_clause.is_none()
        && query.pipe_operators.is_empty()
        && !by_number
}

fn whole_rows(select: &Select) -> bool {
    let bare = |o: &WildcardAdditionalOptions| {
        o.opt_ilike.is_none()
            && o.opt_exclude.is_none()
            && o.opt_except.is_none()
            && o.opt_replace.is_none()
            && o.opt_rename.is_none()
            && o.opt_alias.is_none()
    };
    matches!(select.projection.as_slice(), [SelectItem::Wildcard(o)] if bare(o))
}

pub(crate) fn plain_select(select: &Select) -> bool {
    let ungrouped =
        matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    ungrouped
        && select.distinct.is_none()
        && select.select_modifiers.is_none()
        && select.top.is_none()
        && select.exclude.is_none()
        && select.into.is_none()
        && select.lateral_views.is_empty()
        && select.prewhere.is_none()
        && select.connect_by.is_empty()
        && select.cluster_by.is_empty()
        && select.distribute_by.is_empty()
        && select.sort_by.is_empty()
        && select.having.is_none()
        && select.named_window.is_empty()
        && select.qualify.is_none()
        && select.value_table_mode.is_none()
}

/// `FROM table` (or `public.table`), with or without an alias, no joins.
fn only_table(select: &Select, table: &str) -> bool {
    match select.from.as_slice() {
        [from] if from.joins.is_empty() => match &from.relation {
            TableFactor::Table {
                name,
                args: None,
                version: None,
                sample: None,
                ..
            } => match object_name(name).as_slice() {
                [n] => n == table,
                [s, n] => s == SCHEMA && n == table,
                _ => false,
            },
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::{DFParser, Statement as DFStatement};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    fn rewritten(sql: &str) -> Option<String> {
        let mut parsed = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}).ok()?;
        let Some(DFStatement::Statement(stmt)) = parsed.pop_front() else {
            return None;
        };
        let mut stmt = *stmt;
        select_positions(&mut stmt, "pics").then(|| stmt.to_string())
    }

    #[test]
    fn whole_row_selections_become_position_selections() {
        assert_eq!(
            rewritten("SELECT * FROM pics WHERE label = 3 ORDER BY caption LIMIT 5 OFFSET 2")
                .as_deref(),
            Some(
                "SELECT _deeplake_row FROM pics WHERE label = 3 ORDER BY caption LIMIT 5 OFFSET 2"
            )
        );
        assert!(rewritten("select * from public.pics p where p.label > 1").is_some());
        assert!(rewritten("SELECT * FROM pics ORDER BY emb <#> $1 DESC LIMIT 3").is_some());
    }

    #[test]
    fn anything_more_is_left_alone() {
        for sql in [
            "SELECT label FROM pics",
            "SELECT *, 1 AS one FROM pics",
            "SELECT DISTINCT * FROM pics",
            "SELECT * FROM pics ORDER BY 1",
            "SELECT * FROM other",
            "SELECT * FROM pics JOIN other ON true",
            "SELECT * FROM pics, other",
            "SELECT * FROM pics GROUP BY label",
            "WITH x AS (SELECT 1) SELECT * FROM pics",
            "SELECT * FROM pics UNION SELECT * FROM pics",
            "SELECT * EXCLUDE (label) FROM pics",
            "SELECT * FROM (SELECT * FROM pics) s",
            "DELETE FROM pics",
        ] {
            assert_eq!(rewritten(sql), None, "{sql}");
        }
    }
}
