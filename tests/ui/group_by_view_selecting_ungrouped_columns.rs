// Grouping by a view's id does not cover its other columns in PostgreSQL (42803), so the
// generated view declarations make Diesel refuse the query too.
use diesel::dsl::count;
use diesel::prelude::*;
use softview_example::views::{active_place_activities, active_places};

fn main() {
    let _ = active_places::table
        .left_join(active_place_activities::table)
        .group_by(active_places::id)
        .select((
            active_places::id,
            active_places::name,
            count(active_place_activities::id.nullable()),
        ));
}
