// Soft delete and restore exist only for tables declared with softview::soft_deletable!.
use softview::SoftDelete;

diesel::table! {
    tags (id) {
        id -> Int4,
        label -> Text,
    }
}

fn run(conn: &mut diesel::PgConnection) {
    let _ = tags::table.soft_delete(conn, 1);
    let _ = SoftDelete::restore(tags::table, conn, 1);
}

fn main() {}
