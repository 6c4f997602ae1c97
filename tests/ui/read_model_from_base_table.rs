// A read model loaded from the base table would show deleted rows as live ones.
use diesel::prelude::*;
use softview_example::schema::places;
use softview_example::Place;

fn main() {
    let _ = places::table.select(Place::as_select());
}
