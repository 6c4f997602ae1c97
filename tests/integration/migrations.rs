//! The migrations and the pool that runs them.

use crate::common::{count, db, text};
use diesel::prelude::*;
use softview_devdb::test_server;

#[test]
fn migrations_run_revert_all_and_run_again() {
    let (_db, mut conn) = db();
    let objects = |conn: &mut PgConnection| {
        text(
            conn,
            "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('public', 'softview', 'softview_internal') AND c.relkind IN ('r', 'v', 'p')
               AND NOT c.relispartition",
        )
    };
    let migrated = objects(&mut conn);
    assert_eq!(
        migrated.as_deref(),
        Some(
            "__diesel_schema_migrations,active_activities,active_place_activities,active_places,\
             active_reviews,activities,archive_partitions,changed_references,deleted_records,enabled_tables,\
             place_activities,places,reviews,settings,tables"
        )
    );

    let reverted = softview_example::revert_all_migrations(&mut conn).unwrap();
    assert_eq!(reverted, vec!["20261122000002", "20261122000001"]);
    assert_eq!(
        objects(&mut conn).as_deref(),
        Some("__diesel_schema_migrations")
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'softview'"
        ),
        0
    );

    let ran = softview_example::run_migrations(&mut conn).unwrap();
    assert_eq!(ran, vec!["20261122000001", "20261122000002"]);
    assert_eq!(objects(&mut conn), migrated);
    assert!(
        softview_example::run_migrations(&mut conn)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_pool_migrates_an_empty_database_before_handing_out_connections() {
    let server = test_server().unwrap();
    let name = format!("softview_pool_{}", std::process::id());
    server.create_database(&name, None).unwrap();
    let pool = softview_example::migrated_pool(&server.url(&name)).unwrap();
    let mut conn = pool.get().unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.enabled_tables"),
        4
    );
    drop(conn);
    drop(pool);
    server.drop_database(&name).unwrap();
}
