use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::app::tasks;
use crate::views::app::active_tasks;

/// A live task, read through `app.active_tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = active_tasks, check_for_backend(diesel::pg::Pg))]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    pub done: bool,
}

/// A task to insert into the table.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tasks)]
pub struct NewTask<'a> {
    pub title: &'a str,
}

/// Any stored task, deleted or not: what admin code, the trash and the archive use.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Deserialize)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg))]
pub struct TaskRecord {
    pub id: Uuid,
    pub title: String,
    pub done: bool,
    pub deleted_at: Option<DateTime<Utc>>,
}

softview::soft_deletable!(crate::schema::app::tasks, record: TaskRecord, key: Uuid);
