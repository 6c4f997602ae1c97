// The admin model carries deleted_at; a view has no deleted rows to show it with.
use diesel::prelude::*;
use softview_example::views::active_places;
use softview_example::PlaceRecord;

fn main() {
    let _ = active_places::table.select(PlaceRecord::as_select());
}
