use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::app::TaskNotes;
use crate::views::app::active_TaskNotes;

/// A live note of a live task, read through `app."active_TaskNotes"`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = active_TaskNotes, check_for_backend(diesel::pg::Pg))]
pub struct Note {
    #[diesel(column_name = noteId)]
    pub note_id: Uuid,
    #[diesel(column_name = taskId)]
    pub task_id: Uuid,
    pub body: String,
    #[diesel(column_name = type_)]
    pub kind: Option<String>,
}

/// A note to insert into the table.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = TaskNotes)]
pub struct NewNote<'a> {
    #[diesel(column_name = taskId)]
    pub task_id: Uuid,
    pub body: &'a str,
    #[diesel(column_name = type_)]
    pub kind: Option<&'a str>,
}

/// Any stored note. The archive keeps rows as JSON under their SQL column names, so fields
/// named otherwise say so to serde.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Deserialize)]
#[diesel(table_name = TaskNotes, check_for_backend(diesel::pg::Pg))]
pub struct NoteRecord {
    #[diesel(column_name = noteId)]
    #[serde(rename = "noteId")]
    pub note_id: Uuid,
    #[diesel(column_name = taskId)]
    #[serde(rename = "taskId")]
    pub task_id: Uuid,
    pub body: String,
    #[diesel(column_name = type_)]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
}

softview::soft_deletable!(crate::schema::app::TaskNotes, record: NoteRecord, key: Uuid);
