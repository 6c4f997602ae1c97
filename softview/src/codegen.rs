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
    #[diesel(sql_type = Text)]
    type_schema: String,
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

/// The schemas that hold enabled tables whose views exist, in name order.
pub fn enabled_schemas(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    #[derive(QueryableByName)]
    struct SchemaRow {
        #[diesel(sql_type = Text)]
        schema_name: String,
    }
    let rows: Vec<SchemaRow> = sql_query(
        "SELECT DISTINCT schema_name::text FROM softview.enabled_tables
         WHERE to_regclass(format('%I.%I', schema_name, view_name)) IS NOT NULL
         ORDER BY 1",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.schema_name).collect())
}

/// The Rust source of a views file (`src/views.rs`) for the enabled tables of `schemas`:
/// `public` at the top level and every other schema in a module of its name, as
/// `diesel print-schema` lays out the tables.
pub fn generate_views(conn: &mut PgConnection, schemas: &[String]) -> Result<String, Error> {
    let mut sections = Vec::new();
    for schema in schemas {
        let schema_prefix = if schema == "public" {
            String::new()
        } else {
            format!("{}.", checked_ident(schema)?)
        };
        let data = load_schema(conn, schema)?;
        let mut section = String::new();
        render_schema(&mut section, &schema_prefix, &data)
            .expect("formatting into a String does not fail");
        sections.push((schema, section));
    }
    let mut out = String::from(HEADER);
    nest_sections(&mut out, &sections).expect("formatting into a String does not fail");
    Ok(out)
}

/// The Rust source of the library's declaration of the archive (`softview/src/toolkit_schema.rs`).
/// `diesel print-schema` refuses the archive, which has no primary key (a B-tree would cost
/// every hard delete, see `softview/sql/10_catalog.sql`): its key here is its identity column.
pub fn generate_archive_schema(conn: &mut PgConnection) -> Result<String, Error> {
    let columns: Vec<ColumnRow> = sql_query(
        "SELECT 'deleted_records' AS view_name, a.attname::text AS column_name, t.typname::text AS type_name,
                n.nspname::text AS type_schema, false AS is_array, a.attnotnull AS not_null
         FROM pg_attribute a
         JOIN pg_type t ON t.oid = a.atttypid
         JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE a.attrelid = 'softview.deleted_records'::regclass AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum",
    )
    .load(conn)?;
    #[derive(QueryableByName)]
    struct KeyRow {
        #[diesel(sql_type = Text)]
        attname: String,
    }
    let key: Vec<KeyRow> = sql_query(
        "SELECT attname::text FROM pg_attribute
         WHERE attrelid = 'softview.deleted_records'::regclass AND attidentity <> '' ORDER BY attnum",
    )
    .load(conn)?;
    let key: Vec<&str> = key.iter().map(|k| k.attname.as_str()).collect();
    let mut out = String::from(ARCHIVE_HEADER);
    out.push_str("\npub mod softview {\n    diesel::table! {\n");
    writeln!(
        out,
        "        softview.deleted_records ({}) {{",
        key.join(", ")
    )
    .expect("formatting into a String does not fail");
    for column in &columns {
        writeln!(
            out,
            "            {} -> {},",
            column.column_name,
            diesel_type(column)
        )
        .expect("formatting into a String does not fail");
    }
    out.push_str("        }\n    }\n}\n");
    Ok(out)
}

fn nest_sections(out: &mut String, sections: &[(&String, String)]) -> std::fmt::Result {
    for (schema, section) in sections {
        if *schema == "public" {
            out.push_str(section);
        } else {
            writeln!(out, "\npub mod {} {{", rust_ident(schema))?;
            for line in section.trim_start_matches('\n').lines() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    writeln!(out, "    {line}")?;
                }
            }
            writeln!(out, "}}")?;
        }
    }
    Ok(())
}

/// What one schema's views file section is made of.
struct SchemaData {
    views: Vec<ViewRow>,
    columns: Vec<ColumnRow>,
    joins: Vec<JoinRow>,
}

fn load_schema(conn: &mut PgConnection, schema: &str) -> Result<SchemaData, Error> {
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
                (SELECT nspname FROM pg_namespace
                 WHERE oid = CASE WHEN bt.typcategory = 'A' THEN et.typnamespace ELSE bt.typnamespace END
                )::text AS type_schema,
                bt.typcategory = 'A' AS is_array,
                -- NOT NULL NOT VALID (PostgreSQL 18) sets attnotnull while NULLs may remain.
                b.attnotnull AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint k WHERE k.conrelid = b.attrelid AND k.contype = 'n'
                    AND NOT k.convalidated AND k.conkey = ARRAY[b.attnum]) AS not_null
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
         CROSS JOIN LATERAL softview_internal.parents(e.relation) p
         JOIN softview.enabled_tables pe ON pe.relation = p.parent
         WHERE e.schema_name = $1 AND pe.schema_name = $1 AND cardinality(p.child_columns) = 1
         ORDER BY e.view_name, p.child_columns[1]",
    )
    .bind::<Text, _>(schema)
    .load(conn)?;
    Ok(SchemaData {
        views,
        columns,
        joins,
    })
}

fn render_schema(out: &mut String, schema_prefix: &str, data: &SchemaData) -> std::fmt::Result {
    let SchemaData {
        views,
        columns,
        joins,
    } = data;
    let mut columns_by_view: BTreeMap<&str, Vec<&ColumnRow>> = BTreeMap::new();
    for column in columns {
        columns_by_view
            .entry(&column.view_name)
            .or_default()
            .push(column);
    }

    let custom_types: BTreeMap<String, &ColumnRow> = columns
        .iter()
        .filter(|c| builtin_type(&c.type_name).is_none())
        .map(|c| (camel_case(&c.type_name), c))
        .collect();
    if !custom_types.is_empty() {
        writeln!(out, "\npub mod sql_types {{")?;
        for (i, (name, column)) in custom_types.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]\n    \
                 #[diesel(postgres_type(name = \"{}\", schema = \"{}\"))]\n    pub struct {name};",
                column.type_name, column.type_schema
            )?;
        }
        writeln!(out, "}}")?;
    }
    for view in views {
        let view_columns = columns_by_view.get(view.view_name.as_str());
        let key = match view.primary_key.as_slice() {
            [single] => format!("{0}, {0}", rust_ident(single)),
            composite => composite
                .iter()
                .map(|k| rust_ident(k))
                .collect::<Vec<_>>()
                .join(", "),
        };
        writeln!(out, "\ndiesel::table! {{")?;
        let used: Vec<String> = view_columns
            .into_iter()
            .flatten()
            .filter(|c| builtin_type(&c.type_name).is_none())
            .map(|c| camel_case(&c.type_name))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !used.is_empty() {
            writeln!(out, "    use diesel::sql_types::*;")?;
            for name in used {
                writeln!(out, "    use super::sql_types::{name};")?;
            }
            writeln!(out)?;
        }
        writeln!(out, "    /// Live rows of `{}`.", view.table_name)?;
        let view_ident = rust_ident(&view.view_name);
        if view_ident != view.view_name {
            writeln!(out, "    #[sql_name = \"{}\"]", view.view_name)?;
        }
        writeln!(out, "    {schema_prefix}{view_ident} ({key}) {{")?;
        for column in view_columns.into_iter().flatten() {
            let mut ident = rust_ident(&column.column_name);
            if ident == view_ident {
                ident.push('_');
            }
            if ident != column.column_name {
                writeln!(out, "        #[sql_name = \"{}\"]", column.column_name)?;
            }
            writeln!(out, "        {ident} -> {},", diesel_type(column))?;
        }
        writeln!(out, "    }}\n}}")?;
    }
    for join in joins {
        let (child, parent) = (rust_ident(&join.child_view), rust_ident(&join.parent_view));
        for (left, right) in [(&child, &parent), (&parent, &child)] {
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
                child_column = rust_ident(&join.child_column),
                parent_column = rust_ident(&join.parent_column),
            )?;
        }
    }
    if views.len() > 1 {
        let names: Vec<String> = views.iter().map(|v| rust_ident(&v.view_name)).collect();
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
    Ok(())
}

const HEADER: &str = "\
// @generated by `softview schema` from the active_* views. Do not edit: change the migrations,
// then run `softview schema > src/views.rs`.
//
// A view has no primary key, so PostgreSQL refuses to let grouping by its key cover the other
// columns (42803). Each view's key is declared as composite (a single key is written twice) so
// that Diesel refuses that GROUP BY too. `deleted_at` is left out: it is NULL in every live row.
";

const ARCHIVE_HEADER: &str = "\
// @generated by `softview schema --archive` from softview.deleted_records. Do not edit: change
// the toolkit's SQL, then run `softview schema --archive > softview/src/toolkit_schema.rs`.
";

fn diesel_type(column: &ColumnRow) -> String {
    let base = builtin_type(&column.type_name)
        .map(str::to_owned)
        .unwrap_or_else(|| camel_case(&column.type_name));
    let ty = if column.is_array {
        format!("Array<Nullable<{base}>>")
    } else {
        base
    };
    if column.not_null {
        ty
    } else {
        format!("Nullable<{ty}>")
    }
}

/// Diesel's own SQL type for a PostgreSQL type, when it has one; other types (enums,
/// tsvector, …) get a type of their own in `sql_types`, as `diesel print-schema` does.
fn builtin_type(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
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
        "money" => "Money",
        _ => return None,
    })
}

fn camel_case(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The Rust identifier `diesel print-schema` gives an SQL name, so that the two generated
/// files agree: case kept, other characters as one `_`, a leading digit prefixed with `_`,
/// and names Rust or `table!` reserve suffixed with `_` (the real name goes in `#[sql_name]`).
fn rust_ident(name: &str) -> String {
    let mut ident = String::new();
    let mut last_was_underscore = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            ident.push(c);
            last_was_underscore = false;
        } else if !last_was_underscore {
            ident.push('_');
            last_was_underscore = true;
        }
    }
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    let reserved = RUST_KEYWORDS.contains(&ident.as_str())
        || TABLE_MACRO_NAMES.contains(&ident.as_str())
        || ident == "_"
        || (ident.starts_with("__") && !ident.ends_with('_'));
    if reserved {
        ident.push('_');
    }
    ident
}

/// Names `diesel::table!` itself uses inside a table's module.
const TABLE_MACRO_NAMES: &[&str] = &["table", "columns", "is_nullable"];

/// A schema name must already be an identifier: `table!` uses it as written.
fn checked_ident(name: &str) -> Result<&str, Error> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RUST_KEYWORDS.contains(&name);
    if valid {
        Ok(name)
    } else {
        Err(Error::InvalidArgument(format!(
            "schema name {name:?} is not a Rust identifier, which diesel::table! needs"
        )))
    }
}

/// Rust's strict and reserved keywords.
const RUST_KEYWORDS: &[&str] = &[
    "Self", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];
