// @generated automatically by Diesel CLI.

pub mod app {
    diesel::table! {
        app.TaskNotes (noteId) {
            noteId -> Uuid,
            taskId -> Uuid,
            body -> Text,
            #[sql_name = "type"]
            type_ -> Nullable<Text>,
            deleted_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        app.tasks (id) {
            id -> Uuid,
            title -> Text,
            done -> Bool,
            deleted_at -> Nullable<Timestamptz>,
        }
    }

    diesel::joinable!(TaskNotes -> tasks (taskId));

    diesel::allow_tables_to_appear_in_same_query!(TaskNotes, tasks,);
}
