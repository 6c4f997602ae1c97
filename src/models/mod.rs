//! One file per entity. In each: the read model on the `active_*` view (live rows only), the
//! write models on the base table, and the record model on the base table that admin code
//! uses to see deleted rows too.

mod activity;
mod place;
mod place_activity;
mod review;

pub use activity::{Activity, ActivityChangeset, ActivityRecord, NewActivity};
pub use place::{NewPlace, Place, PlaceChangeset, PlaceRecord};
pub use place_activity::{NewPlaceActivity, PlaceActivity, PlaceActivityRecord};
pub use review::{NewReview, Review, ReviewChangeset, ReviewRecord};
