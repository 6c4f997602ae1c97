//! Tables nobody here wrote: Pagila's keys (not `id`, composite), a non-public schema,
//! mixed-case names and a text key.

mod common;

use common::{count, db, exec, pagila, sql_error, text};
use diesel::prelude::*;
use softview::Error;

#[test]
fn pagila_tables_with_non_id_and_composite_keys_are_enabled() {
    let (_db, mut conn) = pagila();
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s:%s:%s', table_name, kind, array_to_string(primary_key, '+')), ' '
                               ORDER BY position)
             FROM softview.enabled_tables WHERE table_name NOT IN ('places', 'activities', 'place_activities', 'reviews')"
        )
        .as_deref(),
        Some("actor:table:actor_id film:table:film_id customer:table:customer_id film_actor:link:actor_id+film_id")
    );
}

#[test]
fn film_actor_links_follow_their_actor_and_film() {
    let (_db, mut conn) = pagila();
    exec(
        &mut conn,
        "INSERT INTO active_film_actor (actor_id, film_id) VALUES (1, 1), (2, 1), (1, 2);
         INSERT INTO active_film_actor (actor_id, film_id) VALUES (1, 1);",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM film_actor"),
        3,
        "the repeat is idempotent"
    );

    exec(&mut conn, "DELETE FROM active_actor WHERE actor_id = 1");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_film_actor"),
        1
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM film_actor"), 3);
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO active_film_actor (actor_id, film_id) VALUES (1, 2)",
    );
    assert_eq!(state, "SV001");
    assert_eq!(
        message,
        "parent row is deleted: public.actor (actor_id)=(1)"
    );

    exec(
        &mut conn,
        "UPDATE actor SET deleted_at = NULL WHERE actor_id = 1",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_film_actor"),
        3
    );

    // film_actor has no deleted_at: deleting through its view removes the link.
    exec(
        &mut conn,
        "DELETE FROM active_film_actor WHERE actor_id = 2 AND film_id = 1",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM film_actor"), 2);
}

#[test]
fn pagila_customer_soft_deletes_by_customer_id() {
    let (_db, mut conn) = pagila();
    exec(
        &mut conn,
        "INSERT INTO country (country_id, country) VALUES (1, 'France');
         INSERT INTO city (city_id, city, country_id) VALUES (1, 'Lyon', 1);
         INSERT INTO address (address_id, address, district, city_id, phone)
         VALUES (1, '1 rue', 'Rhone', 1, '');
         INSERT INTO store (store_id, manager_staff_id, address_id) VALUES (1, 1, 1);
         INSERT INTO customer (customer_id, store_id, first_name, last_name, address_id)
         VALUES (1, 1, 'MARY', 'SMITH', 1), (2, 1, 'LINDA', 'WILLIAMS', 1);
         DELETE FROM active_customer WHERE customer_id = 2;",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(first_name, ',') FROM active_customer"
        )
        .as_deref(),
        Some("MARY")
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM customer WHERE deleted_at IS NOT NULL"
        ),
        1
    );
}

#[test]
fn the_generator_declares_pagila_views_with_their_own_keys_and_types() {
    let (_db, mut conn) = pagila();
    let source = softview::codegen::generate_views(&mut conn, "public").unwrap();
    assert!(
        source.contains("    active_actor (actor_id, actor_id) {"),
        "{source}"
    );
    assert!(
        source.contains("    active_film_actor (actor_id, film_id) {"),
        "{source}"
    );
    // An enum and a domain: a SQL type of its own, and the domain's base type.
    assert!(
        source.contains("#[diesel(postgres_type(name = \"mpaa_rating\", schema = \"public\"))]"),
        "{source}"
    );
    assert!(
        source.contains("        rating -> Nullable<MpaaRating>,"),
        "{source}"
    );
    assert!(
        source.contains("        release_year -> Nullable<Int4>,"),
        "{source}"
    );
    assert!(
        source.contains("        special_features -> Nullable<Array<Nullable<Text>>>,"),
        "{source}"
    );
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
    assert_eq!(
        message,
        r#"parent row is deleted: "Shop"."Orders" ("Order No")=(B'2)"#
    );

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

    let source = softview::codegen::generate_views(&mut conn, "Shop").unwrap();
    assert!(
        source.contains("#[sql_name = \"active_Order Lines\"]"),
        "{source}"
    );
    assert!(
        source.contains("#[sql_name = \"Order No\"]\n        order_no -> Text,"),
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
        "SELECT (SELECT count(*) FROM softview.tables) || '/' || (SELECT count(*) FROM pg_views WHERE schemaname = 'public')",
    );
    let cases = [
        (
            "SELECT softview.enable('tags')",
            "42703",
            "cannot enable tags: it has no column deleted_at",
        ),
        (
            "SELECT softview.enable('stamps')",
            "42804",
            "cannot enable stamps: column deleted_at is timestamp without time zone, not timestamptz",
        ),
        (
            "SELECT softview.enable('loose')",
            "42P16",
            "cannot enable loose: it has no primary key",
        ),
        (
            "SELECT softview.enable_dependent('tags')",
            "42P16",
            "cannot enable tags as a dependent: it has no foreign key to an enabled table",
        ),
        (
            "SELECT softview.enable('active_places')",
            "42809",
            "cannot enable active_places: it is not a table",
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
            "SELECT (SELECT count(*) FROM softview.tables) || '/' || (SELECT count(*) FROM pg_views WHERE schemaname = 'public')",
        ),
        state_before
    );
    // Through Diesel, the same failure is a typed error.
    let result = diesel::sql_query("SELECT softview.enable('tags')").execute(&mut conn);
    match result.map_err(Error::from) {
        Err(Error::NotEnableable(message)) => {
            assert_eq!(message, "cannot enable tags: it has no column deleted_at")
        }
        other => panic!("expected NotEnableable, got {other:?}"),
    }
}
