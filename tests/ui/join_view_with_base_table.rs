// Joining a live row to a base table would bring deleted parents back into live code.
use diesel::prelude::*;
use softview_example::schema::places;
use softview_example::views::active_reviews;

fn main() {
    let _ = active_reviews::table.inner_join(places::table);
}
