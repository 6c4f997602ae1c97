// A read model loaded from the base table would show deleted rows as live ones.
use diesel::prelude::*;
use softview::schema::places;
use softview::Place;

fn main() {
    let _ = places::table.select(Place::as_select());
}
