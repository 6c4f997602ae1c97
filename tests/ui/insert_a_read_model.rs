// Read models describe view rows; writes go to base tables through New* models.
use softview_example::schema::places;
use softview_example::Place;

fn main() {
    let place = Place { id: 1, name: "Park".into() };
    let _ = diesel::insert_into(places::table).values(&place);
}
