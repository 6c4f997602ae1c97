//! `softview schema`: Diesel declarations of the `active_*` views, which `diesel print-schema`
//! skips.
//!
//! Each view is a `table!` whose key is declared as composite. For a single-column key that
//! means writing it twice, `active_places (id, id)`: Diesel only lets a GROUP BY on a
//! single-column primary key cover the other columns, and PostgreSQL gives a view no primary
//! key, so it rejects exactly that query (42803). With the composite declaration Diesel rejects
//! it too, at compile time. The price: `.find()` on a view takes the key twice, so loads by key
//! are written as filters. Joins between views are declared explicitly (the `joinable!` macro
//! needs a single-column key), and views and base tables cannot appear in one query: a join
//! from a live row to a base table would bring deleted rows back.

use std::collections::BTreeMap;
use std::fmt::Write;

use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{Array, Bool, Text};

use crate::error::Error;

#[derive(QueryableByName)]
struct ViewRow {
    #[diesel(sql_type = Text)]
    view_name: String,
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Array<Text>)]
    primary_key: Vec<String>,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    view_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    type_name: String,
    #[diesel(sql_type = Bool)]
    is_array: bool,
    #[diesel(sql_type = Bool)]
    not_null: bool,
}

#[derive(QueryableByName)]
struct JoinRow {
    #[diesel(sql_type = Text)]
    child_view: String,
    #[diesel(sql_type = Text)]
    child_column: String,
    #[diesel(sql_type = Text)]
    parent_view: String,
    #[diesel(sql_type = Text)]
    parent_column: String,
}

/// The Rust source of `src/views.rs` for the enabled tables of `schema`.
pub fn generate_views(conn: &mut PgConnection, schema: &str) -> Result<String, Error> {
    let views: Vec<ViewRow> = sql_query(
        "SELECT view_name, table_name::text, primary_key::text[]
         FROM softview.enabled_tables
         WHERE schema_name = $1 AND to_regclass(format('%I.%I', schema_name, view_name)) IS NOT NULL
         ORDER BY view_name",
    )
    .bind::<Text, _>(schema)
    .load(conn)?;
    // The view's columns (a column added to the table shows only after a refresh), with the
    // type (domains resolved) and nullability of the table's column.
    let columns: Vec<ColumnRow> = sql_query(
        "SELECT e.view_name, v.attname::text AS column_name,
                (CASE WHEN bt.typcategory = 'A' THEN et.typname ELSE bt.typname END)::text AS type_name,
                bt.typcategory = 'A' AS is_array,
                b.attnotnull AS not_null
         FROM softview.enabled_tables e
         JOIN pg_attribute v ON v.attrelid = to_regclass(format('%I.%I', e.schema_name, e.view_name))
         JOIN pg_attribute b ON b.attrelid = e.relation AND b.attname = v.attname
         JOIN pg_type t ON t.oid = v.atttypid
         JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
         LEFT JOIN pg_type et ON et.oid = bt.typelem
         WHERE e.schema_name = $1 AND v.attnum > 0 AND NOT v.attisdropped AND v.attname <> 'deleted_at'
         ORDER BY e.view_name, v.attnum",
    )
    .bind::<Text, _>(schema)
    .load(conn)?;
    let joins: Vec<JoinRow> = sql_query(
        "SELECT e.view_name AS child_view, p.child_columns[1]::text AS child_column,
                pe.view_name AS parent_view, p.parent_columns[1]::text AS parent_column
         FROM softview.enabled_tables e
         CROSS JOIN LATERAL softview.parents(e.relation) p
         JOIN softview.enabled_tables pe ON pe.relation = p.parent
         WHERE e.schema_name = $1 AND pe.schema_name = $1 AND cardinality(p.child_columns) = 1
         ORDER BY e.view_name, p.child_columns[1]",
    )
    .bind::<Text, _>(schema)
    .load(conn)?;

    let mut columns_by_view: BTreeMap<&str, Vec<&ColumnRow>> = BTreeMap::new();
    for column in &columns {
        columns_by_view
            .entry(&column.view_name)
            .or_default()
            .push(column);
    }

    let mut out = String::from(HEADER);
    for view in &views {
        let key = match view.primary_key.as_slice() {
            [single] => format!("{single}, {single}"),
            composite => composite.join(", "),
        };
        writeln!(out, "\ndiesel::table! {{")?;
        writeln!(out, "    /// Live rows of `{}`.", view.table_name)?;
        writeln!(out, "    {} ({key}) {{", view.view_name)?;
        for column in columns_by_view
            .get(view.view_name.as_str())
            .into_iter()
            .flatten()
        {
            writeln!(
                out,
                "        {} -> {},",
                column.column_name,
                diesel_type(column)?
            )?;
        }
        writeln!(out, "    }}\n}}")?;
    }
    for join in &joins {
        for (left, right) in [
            (&join.child_view, &join.parent_view),
            (&join.parent_view, &join.child_view),
        ] {
            write!(
                out,
                "\nimpl diesel::JoinTo<{right}::table> for {left}::table {{
    type FromClause = {right}::table;
    type OnClause = diesel::dsl::Eq<
        diesel::dsl::Nullable<{child}::{child_column}>,
        diesel::dsl::Nullable<{parent}::{parent_column}>,
    >;

    fn join_target(rhs: {right}::table) -> (Self::FromClause, Self::OnClause) {{
        use diesel::{{ExpressionMethods, NullableExpressionMethods}};
        (
            rhs,
            {child}::{child_column}
                .nullable()
                .eq({parent}::{parent_column}.nullable()),
        )
    }}
}}
",
                child = join.child_view,
                child_column = join.child_column,
                parent = join.parent_view,
                parent_column = join.parent_column,
            )?;
        }
    }
    if views.len() > 1 {
        let names: Vec<&str> = views.iter().map(|v| v.view_name.as_str()).collect();
        let one_line = format!(
            "diesel::allow_tables_to_appear_in_same_query!({},);",
            names.join(", ")
        );
        if one_line.len() <= 100 {
            writeln!(out, "\n{one_line}")?;
        } else {
            writeln!(out, "\ndiesel::allow_tables_to_appear_in_same_query!(")?;
            for name in names {
                writeln!(out, "    {name},")?;
            }
            writeln!(out, ");")?;
        }
    }
    Ok(out)
}

const HEADER: &str = "\
// @generated by `softview schema` from the active_* views. Do not edit: change the migrations,
// then run `cargo run -- schema > src/views.rs`.
//
// A view has no primary key, so PostgreSQL refuses to let grouping by its key cover the other
// columns (42803). Each view's key is declared as composite (a single key is written twice) so
// that Diesel refuses that GROUP BY too. `deleted_at` is left out: it is NULL in every live row.
";

fn diesel_type(column: &ColumnRow) -> Result<String, Error> {
    let base = match column.type_name.as_str() {
        "int2" => "Int2",
        "int4" => "Int4",
        "int8" => "Int8",
        "float4" => "Float4",
        "float8" => "Float8",
        "numeric" => "Numeric",
        "bool" => "Bool",
        "text" => "Text",
        "varchar" => "Varchar",
        "bpchar" => "Bpchar",
        "bytea" => "Bytea",
        "date" => "Date",
        "time" => "Time",
        "timestamp" => "Timestamp",
        "timestamptz" => "Timestamptz",
        "interval" => "Interval",
        "json" => "Json",
        "jsonb" => "Jsonb",
        "uuid" => "Uuid",
        "inet" => "Inet",
        "cidr" => "Cidr",
        "oid" => "Oid",
        other => {
            return Err(Error::Codegen(format!(
                "column {}.{} has type {other}, which softview schema cannot map to a Diesel type",
                column.view_name, column.column_name
            )));
        }
    };
    let ty = if column.is_array {
        format!("Array<Nullable<{base}>>")
    } else {
        base.to_owned()
    };
    Ok(if column.not_null {
        ty
    } else {
        format!("Nullable<{ty}>")
    })
}
