// A read model whose field types disagree with the view's columns.
use diesel::prelude::*;
use softview_example::views::active_places;

#[derive(Queryable, Selectable)]
#[diesel(table_name = active_places, check_for_backend(diesel::pg::Pg))]
pub struct Place {
    pub id: i32,
    pub name: String,
}

fn main() {}
