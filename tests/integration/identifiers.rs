//! Tables unlike the example domain's (tests/fixtures/catalog.sql): keys not called `id`,
//! composite, text and uuid keys, a foreign-key cycle, another schema, mixed-case names and
//! columns named like keywords.

use crate::common::{catalog, count, db, exec, sql_error, text};
use diesel::prelude::*;
use softview::Error;

#[test]
fn tables_with_keys_not_called_id_and_composite_keys_are_enabled() {
    let (_db, mut conn) = catalog();
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s:%s:%s', table_name, kind, array_to_string(primary_key, '+')), ' '
                               ORDER BY position)
             FROM softview.enabled_tables WHERE schema_name = 'catalog'"
        )
        .as_deref(),
        Some(
            "performer:table:performer_id title:table:title_id casting:link:performer_id+title_id \
             branch:table:code manager:child:manager_id AuditNotes:child:noteId"
        )
    );
}

#[test]
fn castings_follow_their_performer_and_title() {
    let (_db, mut conn) = catalog();
    exec(
        &mut conn,
        "INSERT INTO catalog.active_casting (performer_id, title_id) VALUES (1, 1), (2, 1), (1, 2);
         INSERT INTO catalog.active_casting (performer_id, title_id) VALUES (1, 1);",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM catalog.casting"),
        3,
        "the repeat is idempotent"
    );

    exec(
        &mut conn,
        "DELETE FROM catalog.active_performer WHERE performer_id = 1",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM catalog.active_casting"),
        1
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM catalog.casting"), 3);
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO catalog.active_casting (performer_id, title_id) VALUES (1, 2)",
    );
    assert_eq!(state, "SV001");
    assert_eq!(message, "parent row is deleted: catalog.performer");

    exec(
        &mut conn,
        "UPDATE catalog.performer SET deleted_at = NULL WHERE performer_id = 1",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM catalog.active_casting"),
        3
    );

    // casting has no deleted_at: deleting through its view removes the link.
    exec(
        &mut conn,
        "DELETE FROM catalog.active_casting WHERE performer_id = 2 AND title_id = 1",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM catalog.casting"), 2);
}

#[test]
fn tables_in_a_foreign_key_cycle_are_enabled_and_hide_along_the_first_edge() {
    let (_db, mut conn) = catalog();
    exec(
        &mut conn,
        "BEGIN;
         INSERT INTO catalog.branch (code, manager_id) VALUES ('LYS', '00000000-0000-0000-0000-000000000001');
         INSERT INTO catalog.manager (manager_id, branch_code) VALUES ('00000000-0000-0000-0000-000000000001', 'LYS');
         COMMIT;
         UPDATE catalog.branch SET deleted_at = now() WHERE code = 'LYS';",
    );
    // manager was enabled after branch, so its view follows branch; the edge back is not
    // followed, which keeps the views from depending on each other in a circle.
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM catalog.active_manager"),
        0
    );
    exec(
        &mut conn,
        "UPDATE catalog.branch SET deleted_at = NULL WHERE code = 'LYS'",
    );
    exec(&mut conn, "UPDATE catalog.manager SET deleted_at = now()");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM catalog.active_branch"),
        1
    );
}

#[test]
fn soft_deleting_by_a_text_key() {
    let (_db, mut conn) = catalog();
    exec(
        &mut conn,
        "INSERT INTO catalog.branch (code) VALUES ('LYS'), ('PAR');
         DELETE FROM catalog.active_branch WHERE code = 'PAR';",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(code, ',') FROM catalog.active_branch"
        )
        .as_deref(),
        Some("LYS")
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM catalog.branch WHERE deleted_at IS NOT NULL"
        ),
        1
    );
}

#[test]
fn the_generator_declares_views_of_another_schema_with_their_own_keys_and_types() {
    let (_db, mut conn) = catalog();
    let schemas = softview::codegen::enabled_schemas(&mut conn).unwrap();
    assert_eq!(schemas, ["catalog", "public"]);
    let source = softview::codegen::generate_views(&mut conn, &schemas).unwrap();
    for expected in [
        "pub mod catalog {",
        "        catalog.active_performer (performer_id, performer_id) {",
        "        catalog.active_casting (performer_id, title_id) {",
        // An enum gets an SQL type of its own, a domain its base type.
        "        #[diesel(postgres_type(name = \"rating\", schema = \"catalog\"))]",
        "            rating -> Nullable<Rating>,",
        "            released -> Nullable<Int4>,",
        "            tags -> Nullable<Array<Nullable<Text>>>,",
        "            manager_id -> Uuid,",
        // Names Rust or table! reserve get `_`, with the real name in sql_name.
        "            #[sql_name = \"table\"]\n            table_ -> Nullable<Text>,",
        "            #[sql_name = \"columns\"]\n            columns_ -> Nullable<Text>,",
        "            #[sql_name = \"macro\"]\n            macro_ -> Nullable<Text>,",
        "            #[sql_name = \"try\"]\n            try_ -> Nullable<Int4>,",
        // Mixed case is kept, as diesel print-schema keeps it.
        "        catalog.active_AuditNotes (noteId, noteId) {",
        "            titleId -> Int2,",
        "    active_places (id, id) {",
    ] {
        assert!(
            source.contains(expected),
            "missing {expected:?} in:\n{source}"
        );
    }
}

#[test]
fn quoted_identifiers_in_another_schema_and_a_text_key() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        r#"CREATE SCHEMA "Shop";
           CREATE TABLE "Shop"."Orders" ("Order No" text PRIMARY KEY, deleted_at timestamptz);
           CREATE TABLE "Shop"."Order Lines" (
               id int PRIMARY KEY,
               "Order No" text NOT NULL REFERENCES "Shop"."Orders",
               "Qty" int NOT NULL,
               deleted_at timestamptz);
           SELECT softview.enable('"Shop"."Orders"');
           SELECT softview.enable('"Shop"."Order Lines"');
           INSERT INTO "Shop"."active_Orders" VALUES ('A-1'), ('B''2');
           INSERT INTO "Shop"."active_Order Lines" VALUES (1, 'A-1', 3), (2, 'B''2', 1);
           DELETE FROM "Shop"."active_Orders" WHERE "Order No" = 'B''2';"#,
    );
    assert_eq!(
        count(
            &mut conn,
            r#"SELECT count(*) FROM "Shop"."active_Order Lines""#
        ),
        1
    );
    assert_eq!(
        count(&mut conn, r#"SELECT count(*) FROM "Shop"."Order Lines""#),
        2
    );
    let (state, message) = sql_error(
        &mut conn,
        r#"INSERT INTO "Shop"."active_Order Lines" VALUES (3, 'B''2', 1)"#,
    );
    assert_eq!(state, "SV001");
    assert_eq!(message, r#"parent row is deleted: "Shop"."Orders""#);

    exec(
        &mut conn,
        r#"ALTER TABLE "Shop"."Orders" ADD COLUMN "Note" text; SELECT softview.refresh('"Shop"."Orders"')"#,
    );
    assert_eq!(
        count(
            &mut conn,
            r#"SELECT count(*) FROM "Shop"."active_Orders" WHERE "Note" IS NULL"#
        ),
        1
    );

    let source = softview::codegen::generate_views(&mut conn, &["Shop".to_owned()]).unwrap();
    assert!(
        source.contains("#[sql_name = \"active_Order Lines\"]"),
        "{source}"
    );
    assert!(
        source.contains("#[sql_name = \"Order No\"]\n            Order_No -> Text,"),
        "{source}"
    );
}

#[test]
fn enabling_a_table_that_cannot_be_soft_deleted_fails_and_changes_nothing() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE tags (id int PRIMARY KEY, name text);
         CREATE TABLE stamps (id int PRIMARY KEY, deleted_at timestamp);
         CREATE TABLE loose (deleted_at timestamptz);",
    );
    let state_before = text(
        &mut conn,
        "SELECT (SELECT count(*) FROM softview_internal.tables) || '/' || (SELECT count(*) FROM pg_views WHERE schemaname = 'public')",
    );
    let cases = [
        (
            "SELECT softview.enable('tags')",
            "42703",
            "cannot enable public.tags: it has no column deleted_at",
        ),
        (
            "SELECT softview.enable('stamps')",
            "42804",
            "cannot enable public.stamps: column deleted_at is timestamp without time zone, not timestamptz",
        ),
        (
            "SELECT softview.enable('loose')",
            "42P16",
            "cannot enable public.loose: it has no primary key",
        ),
        (
            "SELECT softview.enable_dependent('tags')",
            "42P16",
            "cannot enable public.tags as a dependent: it has no foreign key to an enabled table",
        ),
        (
            "SELECT softview.enable('active_places')",
            "42809",
            "cannot enable public.active_places: it is not a table",
        ),
    ];
    for (sql, state, message) in cases {
        assert_eq!(
            sql_error(&mut conn, sql),
            (state.to_owned(), message.to_owned()),
            "{sql}"
        );
    }
    assert_eq!(
        text(
            &mut conn,
            "SELECT (SELECT count(*) FROM softview_internal.tables) || '/' || (SELECT count(*) FROM pg_views WHERE schemaname = 'public')",
        ),
        state_before
    );
    // Through Diesel, the same failure is a typed error.
    let result = diesel::sql_query("SELECT softview.enable('tags')").execute(&mut conn);
    match result.map_err(Error::from) {
        Err(Error::NotEnableable { message, .. }) => {
            assert_eq!(
                message,
                "cannot enable public.tags: it has no column deleted_at"
            )
        }
        other => panic!("expected NotEnableable, got {other:?}"),
    }
}
