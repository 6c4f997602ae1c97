use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use crate::models::Place;
use crate::schema::reviews;
use crate::views::active_reviews;

/// A live review of a live place, read through `active_reviews`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = active_reviews, check_for_backend(diesel::pg::Pg))]
#[diesel(belongs_to(Place))]
pub struct Review {
    pub id: i64,
    pub place_id: i64,
    pub rating: i16,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A review to insert into the base table.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = reviews)]
pub struct NewReview<'a> {
    pub place_id: i64,
    pub rating: i16,
    pub body: &'a str,
}

/// Changes to a review; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = reviews)]
pub struct ReviewChangeset<'a> {
    pub rating: Option<i16>,
    pub body: Option<&'a str>,
}

/// Any stored review, deleted or not, for admin code.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Insertable, Deserialize,
)]
#[diesel(table_name = reviews, check_for_backend(diesel::pg::Pg))]
pub struct ReviewRecord {
    pub id: i64,
    pub place_id: i64,
    pub rating: i16,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

softview::soft_deletable!(reviews, record: ReviewRecord, key: i64);
