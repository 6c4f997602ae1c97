//! Enabling a big table, and making its unique indexes partial, without blocking its writers:
//! the indexes are built first with CREATE INDEX CONCURRENTLY, one statement at a time outside
//! a transaction, and the enable then builds nothing.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use softview::online::{self, Enable, KeptIndex};

use crate::common::{db, exec, sql_error, text};

/// Applies each step's `up` alone, as a migration with `run_in_transaction = false` does.
fn apply(conn: &mut PgConnection, steps: &[online::Step]) {
    for step in steps {
        conn.batch_execute(&step.up)
            .unwrap_or_else(|e| panic!("{}: {e}", step.up));
    }
}

/// The indexes of `table`, with their comments, in name order.
fn indexes(conn: &mut PgConnection, table: &str) -> String {
    text(
        conn,
        &format!(
            "SELECT string_agg(c.relname || ' ' || i.indexrelid || ' ' || coalesce(left(obj_description(c.oid, 'pg_class'), 19), '-'),
                               E'\\n' ORDER BY c.relname)
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '{table}'::regclass"
        ),
    )
    .unwrap_or_default()
}

const BIG_TABLES: &str = "
    CREATE SCHEMA ledger;
    CREATE TABLE ledger.accounts (id bigint PRIMARY KEY, deleted_at timestamptz);
    CREATE TABLE ledger.entries (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES ledger.accounts,
                                 deleted_at timestamptz);
    CREATE INDEX ON ledger.entries (account_id);
    INSERT INTO ledger.accounts SELECT g FROM generate_series(1, 1000) g;
    INSERT INTO ledger.entries SELECT g, 1 + g % 1000 FROM generate_series(1, 5000) g;";

#[test]
fn an_online_enable_builds_its_indexes_first_and_the_enable_adopts_them() {
    let (_db, mut conn) = db();
    exec(&mut conn, BIG_TABLES);

    let steps = online::enable_steps(&mut conn, "ledger.accounts", Enable::WithDeletedAt).unwrap();
    let described: Vec<(&str, &str, bool)> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.up.as_str(), s.in_transaction))
        .collect();
    assert_eq!(
        described,
        [
            (
                "build_accounts_trash",
                "CREATE INDEX CONCURRENTLY accounts_trash ON ledger.accounts (deleted_at) WHERE deleted_at IS NOT NULL",
                false
            ),
            (
                "enable_accounts",
                "SELECT softview.enable('ledger.accounts')",
                true
            ),
        ]
    );
    assert_eq!(
        steps[0].down,
        "DROP INDEX CONCURRENTLY IF EXISTS ledger.accounts_trash"
    );
    assert_eq!(steps[1].down, "SELECT softview.disable('ledger.accounts')");

    // The build runs alone; the enable finds it and only comments it, so that disable drops it.
    apply(&mut conn, &steps[..1]);
    let built = indexes(&mut conn, "ledger.accounts");
    apply(&mut conn, &steps[1..]);
    let trash = oid_of(&built, "accounts_trash");
    assert_eq!(
        indexes(&mut conn, "ledger.accounts"),
        built.replace(
            &format!("accounts_trash {trash} -"),
            &format!("accounts_trash {trash} created by softview")
        )
    );

    // The child needs its own trash index and the parent's live keys; a dependent none of its own.
    let child = online::enable_steps(&mut conn, "ledger.entries", Enable::WithDeletedAt).unwrap();
    let ups: Vec<&str> = child.iter().map(|s| s.up.as_str()).collect();
    assert_eq!(
        ups,
        [
            "CREATE INDEX CONCURRENTLY accounts_live_keys ON ledger.accounts (id) WHERE deleted_at IS NULL",
            "CREATE INDEX CONCURRENTLY entries_trash ON ledger.entries (deleted_at) WHERE deleted_at IS NOT NULL",
            "SELECT softview.enable('ledger.entries')",
        ]
    );
    apply(&mut conn, &child[..2]);
    let (accounts, entries) = (
        indexes(&mut conn, "ledger.accounts"),
        indexes(&mut conn, "ledger.entries"),
    );
    apply(&mut conn, &child[2..]);
    assert_eq!(
        indexes(&mut conn, "ledger.accounts")
            .matches(" created by softview")
            .count(),
        2
    );
    assert_eq!(
        [accounts.lines().count(), entries.lines().count()],
        [
            indexes(&mut conn, "ledger.accounts").lines().count(),
            indexes(&mut conn, "ledger.entries").lines().count()
        ],
        "the enable built nothing"
    );
    assert_eq!(
        online::enable_steps(&mut conn, "ledger.entries", Enable::WithDeletedAt)
            .unwrap()
            .len(),
        1,
        "once built, only the enable is left"
    );

    // Disabling drops the adopted indexes as it drops those it built.
    exec(
        &mut conn,
        "SELECT softview.disable('ledger.entries'); SELECT softview.disable('ledger.accounts');",
    );
    assert!(!indexes(&mut conn, "ledger.accounts").contains("softview"));
    assert!(!indexes(&mut conn, "ledger.entries").contains("_trash"));
}

fn oid_of(listing: &str, index: &str) -> String {
    listing
        .lines()
        .find(|l| l.starts_with(&format!("{index} ")))
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_else(|| panic!("no {index} in {listing}"))
        .to_owned()
}

/// A concurrent build that fails or is cancelled leaves an invalid index behind. It is not
/// taken for the index softview needs: the enable says which one and how to go on, and changes
/// nothing.
#[test]
fn an_index_a_failed_concurrent_build_left_invalid_is_named_and_nothing_is_enabled() {
    let (_db, mut conn) = db();
    exec(&mut conn, BIG_TABLES);
    let steps = online::enable_steps(&mut conn, "ledger.accounts", Enable::WithDeletedAt).unwrap();
    apply(&mut conn, &steps[..1]);
    // What a cancelled CREATE INDEX CONCURRENTLY leaves: the index, marked invalid.
    exec(
        &mut conn,
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ledger.accounts_trash'::regclass",
    );
    let (state, message) = sql_error(&mut conn, "SELECT softview.enable('ledger.accounts')");
    assert_eq!(state, "55000");
    assert_eq!(
        message,
        "cannot enable ledger.accounts: index accounts_trash is invalid"
    );
    let error = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "softview.enable('ledger.accounts')::text",
    ))
    .get_result::<String>(&mut conn)
    .unwrap_err();
    let diesel::result::Error::DatabaseError(_, info) = &error else {
        panic!("{error}")
    };
    assert_eq!(
        info.hint(),
        Some(
            "DROP INDEX CONCURRENTLY ledger.accounts_trash; then build it again or let enable build it"
        )
    );
    assert!(matches!(
        softview::Error::from(error),
        softview::Error::NotEnableable { .. }
    ));
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(relation::text, ',') FROM softview.enabled_tables"
        )
        .as_deref(),
        Some("places,activities,place_activities,reviews")
    );
    exec(&mut conn, "DROP INDEX ledger.accounts_trash");
    exec(&mut conn, "SELECT softview.enable('ledger.accounts')");
}

#[test]
fn unique_indexes_become_partial_online_and_a_referenced_key_stays_whole() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE members (id bigint PRIMARY KEY, email text CONSTRAINT members_email UNIQUE,
                               handle text, code text UNIQUE, deleted_at timestamptz);
         CREATE UNIQUE INDEX members_handle ON members (lower(handle)) INCLUDE (id) WHERE handle <> '';
         CREATE TABLE badges (id bigint PRIMARY KEY, member_code text REFERENCES members (code));
         SELECT softview.enable('members');
         INSERT INTO members VALUES (1, 'a@example.com', 'Ann', 'A1', now());",
    );
    let before = text(
        &mut conn,
        "SELECT string_agg(pg_get_indexdef(indexrelid), E'\\n' ORDER BY indexrelid::regclass::text)
         FROM pg_index WHERE indrelid = 'members'::regclass",
    );
    let reuse = "INSERT INTO members VALUES (2, 'a@example.com', 'ann', 'B2')";
    let (state, message) = sql_error(&mut conn, reuse);
    assert_eq!(state, "23505");
    assert!(message.contains("\"members_email\""), "{message}");

    let (steps, kept) = online::partial_unique_steps(&mut conn, "members").unwrap();
    assert_eq!(
        kept,
        [KeptIndex {
            index_name: "public.members_code_key".into(),
            reason: "foreign keys reference it (badges_member_code_fkey of public.badges): they need every row's key"
                .into()
        }]
    );
    let described: Vec<(&str, &str, bool)> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.up.as_str(), s.in_transaction))
        .collect();
    assert_eq!(
        described,
        [
            (
                "build_members_email_live",
                "CREATE UNIQUE INDEX CONCURRENTLY members_email_live ON public.members USING btree (email) \
                 WHERE deleted_at IS NULL",
                false
            ),
            (
                "retire_members_email",
                "ALTER TABLE public.members DROP CONSTRAINT members_email",
                true
            ),
            (
                "build_members_handle_live",
                "CREATE UNIQUE INDEX CONCURRENTLY members_handle_live ON public.members USING btree (lower(handle)) \
                 INCLUDE (id) WHERE (handle <> ''::text) AND deleted_at IS NULL",
                false
            ),
            (
                "retire_members_handle",
                "DROP INDEX CONCURRENTLY public.members_handle",
                false
            ),
        ]
    );
    apply(&mut conn, &steps);
    exec(&mut conn, reuse);
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO members VALUES (3, 'a@example.com', 'x', 'C3')",
    );
    assert_eq!(state, "23505");
    assert!(message.contains("\"members_email_live\""), "{message}");
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(index_name, ',') FROM softview.index_check('members')"
        ),
        None
    );

    // The down statements, last first, put the full indexes back once the keys are unique again.
    exec(&mut conn, "DELETE FROM members WHERE id = 2");
    for step in steps.iter().rev() {
        conn.batch_execute(&step.down)
            .unwrap_or_else(|e| panic!("{}: {e}", step.down));
    }
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(pg_get_indexdef(indexrelid), E'\\n' ORDER BY indexrelid::regclass::text)
             FROM pg_index WHERE indrelid = 'members'::regclass"
        ),
        before
    );
}

#[test]
fn planning_an_online_change_of_a_table_softview_cannot_take_is_a_typed_error() {
    let (_db, mut conn) = db();
    let error =
        online::enable_steps(&mut conn, "no_such_table", Enable::WithDeletedAt).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("relation \"no_such_table\" does not exist"),
        "{error}"
    );
    exec(&mut conn, "CREATE TABLE plain (id bigint PRIMARY KEY)");
    let error = online::partial_unique_steps(&mut conn, "plain").unwrap_err();
    assert!(
        matches!(error, softview::Error::NotSoftDeletable { ref table, .. } if table == "public.plain"),
        "{error:?}"
    );
}
