use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use crate::schema::places;
use crate::views::active_places;

/// A live place, read through `active_places`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = active_places, check_for_backend(diesel::pg::Pg))]
pub struct Place {
    pub id: i64,
    pub name: String,
}

/// A place to insert into the base table.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = places)]
pub struct NewPlace<'a> {
    pub name: &'a str,
}

/// Changes to a place; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = places)]
pub struct PlaceChangeset<'a> {
    pub name: Option<&'a str>,
}

/// Any stored place, deleted or not, for admin code.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Insertable, Deserialize,
)]
#[diesel(table_name = places, check_for_backend(diesel::pg::Pg))]
pub struct PlaceRecord {
    pub id: i64,
    pub name: String,
    pub deleted_at: Option<DateTime<Utc>>,
}

softview::soft_deletable!(places, record: PlaceRecord, key: i64);
