//! Every message the toolkit raises is tied to the Rust variant that reads it: the messages in
//! the SQL and the prefixes in `softview::error::TOOLKIT_MESSAGES` agree both ways, and each
//! condition raised for real through Diesel comes out as its variant with its fields whole.

use diesel::prelude::*;
use softview::Error;
use softview::error::{TOOLKIT_MESSAGES, ToolkitCondition};

use crate::common::{db, exec, seed};

/// Messages the toolkit raises that stay `Error::Database`: bad arguments and setup mistakes
/// whose PostgreSQL message is the whole story.
const GENERIC: &[&str] = &[
    "softview needs PostgreSQL 15 or later",
    "the softview toolkit is already installed",
    "bad key for ",
    "invalid ",
    "nothing archived for transaction ",
    "a purge batch must hold at least one row",
    "cannot truncate ",
    "permission denied: ",
    // softview.schedule_purge on a database without pg_cron; its DETAIL says what to run.
    "pg_cron is not installed in this database",
    // Raised and caught inside softview.preview to roll its action back; no caller sees it.
    "softview preview rolls back",
];

/// The literal start of every `RAISE EXCEPTION '…'` in the toolkit, up to its first `%`.
fn raised_messages() -> Vec<String> {
    softview::toolkit::INSTALL_SQL
        .split("RAISE EXCEPTION '")
        .skip(1)
        .map(|rest| {
            let literal = &rest[..rest.find('\'').unwrap()];
            literal.split('%').next().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn every_raised_message_has_a_variant_or_is_listed_as_generic_and_every_variant_is_raised() {
    let raised = raised_messages();
    assert!(raised.len() >= 20, "{raised:?}");
    for message in &raised {
        let classified = TOOLKIT_MESSAGES
            .iter()
            .any(|(prefix, _)| message.starts_with(prefix));
        let generic = GENERIC.iter().any(|g| message.starts_with(g));
        assert!(
            classified != generic,
            "{message:?} must be either classified or listed as generic"
        );
    }
    for (prefix, condition) in TOOLKIT_MESSAGES {
        assert!(
            raised.iter().any(|m| m.starts_with(prefix)),
            "{condition:?}: no RAISE in the toolkit starts with {prefix:?}"
        );
    }
}

fn classify(conn: &mut PgConnection, sql: &str) -> Error {
    diesel::sql_query(sql)
        .execute(conn)
        .map(|_| panic!("expected {sql} to fail"))
        .unwrap_err()
        .into()
}

#[test]
fn each_condition_comes_out_as_its_variant_with_names_whole() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        r#"CREATE SCHEMA "my app";
           CREATE TABLE "my app"."Odd ""Name""" (id int PRIMARY KEY, deleted_at timestamptz);
           SELECT softview.enable('"my app"."Odd ""Name"""');
           INSERT INTO "my app"."Odd ""Name""" VALUES (1, NULL);
           CREATE TABLE tags (id int PRIMARY KEY);
           UPDATE places SET deleted_at = now() WHERE id = 2;
           SELECT softview.require_actor('reviews');"#,
    );
    let odd = r#""my app"."Odd ""Name""""#;
    let cases: Vec<(ToolkitCondition, String)> = vec![
        (
            ToolkitCondition::NotFound,
            format!(
                "SELECT softview.soft_delete_row('{}', '{{9}}')",
                odd.replace('\'', "''")
            ),
        ),
        (
            ToolkitCondition::NotDeleted,
            format!("SELECT softview.restore_row('{odd}', '{{1}}')"),
        ),
        (
            ToolkitCondition::ParentDeleted,
            "INSERT INTO active_reviews (place_id, rating, body) VALUES (2, 3, 'x')".into(),
        ),
        (
            ToolkitCondition::ParentMissing,
            "INSERT INTO active_reviews (place_id, rating, body) VALUES (99, 3, 'x')".into(),
        ),
        (
            ToolkitCondition::ActorRequired,
            "DELETE FROM reviews WHERE id = 1".into(),
        ),
        (
            ToolkitCondition::NotEnabled,
            "SELECT softview.require_actor('tags')".into(),
        ),
        (
            ToolkitCondition::NotSoftDeletable,
            "SELECT softview.trash('tags')".into(),
        ),
        (
            ToolkitCondition::NotEnableable,
            "SELECT softview.enable('tags')".into(),
        ),
        (
            ToolkitCondition::DependentViews,
            "SELECT softview.disable('places')".into(),
        ),
    ];
    for (condition, sql) in cases {
        let error = classify(&mut conn, &sql);
        let ok = match (&condition, &error) {
            (ToolkitCondition::NotFound, Error::NotFound { table, key, source }) => {
                table == odd && key == "(id)=(9)" && source.is_some()
            }
            (ToolkitCondition::NotDeleted, Error::NotDeleted { table, key, .. }) => {
                table == odd && key == "(id)=(1)"
            }
            (
                ToolkitCondition::ParentDeleted,
                Error::ParentDeleted {
                    parent,
                    key,
                    constraint,
                    ..
                },
            ) => {
                parent == "public.places"
                    && key == "(id)=(2)"
                    && constraint.as_deref() == Some("reviews_place_id_fkey")
            }
            (ToolkitCondition::ParentMissing, Error::ParentMissing { detail, .. }) => {
                detail == "Key (id)=(99) is not present in table public.places."
            }
            (ToolkitCondition::ActorRequired, Error::ActorRequired { table, .. }) => {
                table == "public.reviews"
            }
            (ToolkitCondition::NotEnabled, Error::NotEnabled { table, .. }) => {
                table == "public.tags"
            }
            (ToolkitCondition::NotSoftDeletable, Error::NotSoftDeletable { table, .. }) => {
                table == "public.tags"
            }
            (ToolkitCondition::NotEnableable, Error::NotEnableable { message, .. }) => {
                message.starts_with("cannot enable public.tags")
            }
            (ToolkitCondition::DependentViews, Error::DependentViews { message, .. }) => {
                message.starts_with("cannot disable public.places")
            }
            _ => false,
        };
        assert!(ok, "{condition:?} from {sql}: got {error:?}");
        assert!(
            std::error::Error::source(&error).is_some(),
            "{error:?} keeps its source"
        );
    }
}

#[test]
fn postgres_own_foreign_key_errors_name_their_side() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE TABLE visits (id int PRIMARY KEY, place_id bigint REFERENCES places);
         INSERT INTO visits VALUES (1, 1);",
    );
    match classify(&mut conn, "DELETE FROM places WHERE id = 1") {
        Error::StillReferenced {
            referencing,
            constraint,
            detail,
            ..
        } => {
            assert_eq!(referencing, "visits");
            assert_eq!(constraint.as_deref(), Some("visits_place_id_fkey"));
            assert_eq!(
                detail,
                r#"Key (id)=(1) is still referenced from table "visits"."#
            );
        }
        other => panic!("expected StillReferenced, got {other:?}"),
    }
    match classify(&mut conn, "INSERT INTO visits VALUES (2, 99)") {
        Error::ParentMissing {
            constraint, detail, ..
        } => {
            assert_eq!(constraint.as_deref(), Some("visits_place_id_fkey"));
            assert_eq!(
                detail,
                r#"Key (place_id)=(99) is not present in table "places"."#
            );
        }
        other => panic!("expected ParentMissing, got {other:?}"),
    }
}
