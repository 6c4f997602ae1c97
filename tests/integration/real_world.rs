//! An extra check on a real schema nobody here wrote: the Pagila sample database (PostgreSQL
//! licence), read from `PAGILA_SCHEMA`. `.ci/run` sets it when the schema is beside the
//! checkout; the README's test command does not, and this test then says it was skipped.

use crate::common::{count, db, exec, sql_error};

#[test]
fn pagila_tables_are_enabled_and_their_links_hide_with_their_parents() {
    let Some(path) = std::env::var_os("PAGILA_SCHEMA") else {
        eprintln!("skipped: PAGILA_SCHEMA is not set");
        return;
    };
    let schema = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("PAGILA_SCHEMA={}: {e}", path.to_string_lossy()));
    let (database, conn) = db();
    drop(conn);
    // The dump empties search_path for its session: load it on a connection of its own.
    exec(&mut database.connect().unwrap(), &schema);
    let mut conn = database.connect().unwrap();
    exec(
        &mut conn,
        "ALTER TABLE actor ADD COLUMN deleted_at timestamptz;
         ALTER TABLE film ADD COLUMN deleted_at timestamptz;
         SELECT softview.enable('actor');
         SELECT softview.enable('film');
         SELECT softview.enable_dependent('film_actor');
         INSERT INTO language (language_id, name) VALUES (1, 'English');
         INSERT INTO actor (actor_id, first_name, last_name) VALUES (1, 'PENELOPE', 'GUINESS');
         INSERT INTO film (film_id, title, language_id, fulltext) VALUES (1, 'ACADEMY DINOSAUR', 1, '');
         INSERT INTO active_film_actor (actor_id, film_id) VALUES (1, 1);
         DELETE FROM active_actor WHERE actor_id = 1;",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_film_actor"),
        0
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM film_actor"), 1);
    let (state, _) = sql_error(
        &mut conn,
        "INSERT INTO active_film_actor (actor_id, film_id) VALUES (1, 1)",
    );
    assert_eq!(state, "SV001");
    let source = softview::codegen::generate_views(&mut conn, &["public".to_owned()]).unwrap();
    assert!(
        source.contains("active_film_actor (actor_id, film_id) {"),
        "{source}"
    );
    assert!(
        source.contains("rating -> Nullable<MpaaRating>,"),
        "{source}"
    );
}
