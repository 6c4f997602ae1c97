// Read models describe view rows; writes go to base tables through New* models.
use softview::schema::places;
use softview::Place;

fn main() {
    let place = Place { id: 1, name: "Park".into() };
    let _ = diesel::insert_into(places::table).values(&place);
}
