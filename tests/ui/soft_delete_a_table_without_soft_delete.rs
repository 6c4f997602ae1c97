// The lifecycle exists on every table, but each operation asks for the table's declaration:
// without softview::soft_deletable! it does not compile, and the error says what to write.
use softview::Lifecycle;

diesel::table! {
    tags (id) {
        id -> Int4,
        label -> Text,
    }
}

fn run(conn: &mut diesel::PgConnection) {
    let _ = tags::table.soft_delete(conn, 1);
    let _ = tags::table.delete(conn, 1);
}

fn main() {}
