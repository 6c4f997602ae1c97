// Live reads cannot ask for deleted rows: the views declare no deleted_at.
use diesel::prelude::*;
use softview_example::views::active_places;

fn main() {
    let _ = active_places::table.filter(active_places::deleted_at.is_not_null());
}
