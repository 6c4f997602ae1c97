use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use crate::models::{Activity, Place};
use crate::schema::place_activities;
use crate::views::active_place_activities;

/// A live link between a place and an activity, read through `active_place_activities`: the
/// link and both its parents are live.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = active_place_activities, check_for_backend(diesel::pg::Pg))]
#[diesel(belongs_to(Place), belongs_to(Activity))]
pub struct PlaceActivity {
    pub id: i64,
    pub place_id: i64,
    pub activity_id: i64,
}

/// A link to insert. Written through `active_place_activities`, the insert is idempotent and
/// refused when a parent is deleted; written to the base table, neither is checked.
#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = place_activities)]
#[diesel(table_name = active_place_activities)]
pub struct NewPlaceActivity {
    pub place_id: i64,
    pub activity_id: i64,
}

/// Any stored link, deleted or not, for admin code.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Insertable, Deserialize,
)]
#[diesel(table_name = place_activities, check_for_backend(diesel::pg::Pg))]
pub struct PlaceActivityRecord {
    pub id: i64,
    pub place_id: i64,
    pub activity_id: i64,
    pub deleted_at: Option<DateTime<Utc>>,
}

softview::soft_deletable!(place_activities, record: PlaceActivityRecord, key: i64);
