use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use crate::schema::activities;
use crate::views::active_activities;

/// A live activity, read through `active_activities`. Names are unique among live activities.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = active_activities, check_for_backend(diesel::pg::Pg))]
pub struct Activity {
    pub id: i64,
    pub name: String,
    pub kind: Option<String>,
}

/// An activity to insert into the base table.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = activities, treat_none_as_null = true)]
pub struct NewActivity<'a> {
    pub name: &'a str,
    pub kind: Option<&'a str>,
}

/// Changes to an activity; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = activities)]
pub struct ActivityChangeset<'a> {
    pub name: Option<&'a str>,
    pub kind: Option<Option<&'a str>>,
}

/// Any stored activity, deleted or not, for admin code.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Insertable, Deserialize,
)]
#[diesel(table_name = activities, check_for_backend(diesel::pg::Pg))]
pub struct ActivityRecord {
    pub id: i64,
    pub name: String,
    pub kind: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
}

softview::soft_deletable!(activities, record: ActivityRecord, key: i64, revive: NewActivity<'_>, by: [name]);
