// @generated automatically by Diesel CLI.

pub mod softview {
    diesel::table! {
        softview.deleted_records (id, archived_at) {
            id -> Int8,
            table_name -> Text,
            primary_key -> Jsonb,
            row_data -> Jsonb,
            archived_at -> Timestamptz,
            actor -> Nullable<Text>,
            reason -> Nullable<Text>,
            transaction_id -> Int8,
            table_oid -> Nullable<Oid>,
            database_role -> Nullable<Text>,
            session_role -> Nullable<Text>,
            purged -> Bool,
        }
    }
}
