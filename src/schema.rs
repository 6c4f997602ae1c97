// @generated automatically by Diesel CLI.

diesel::table! {
    activities (id) {
        id -> Int8,
        name -> Text,
        kind -> Nullable<Text>,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    place_activities (id) {
        id -> Int8,
        place_id -> Int8,
        activity_id -> Int8,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    places (id) {
        id -> Int8,
        name -> Text,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    reviews (id) {
        id -> Int8,
        place_id -> Int8,
        rating -> Int2,
        body -> Text,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(place_activities -> activities (activity_id));
diesel::joinable!(place_activities -> places (place_id));
diesel::joinable!(reviews -> places (place_id));

diesel::allow_tables_to_appear_in_same_query!(activities, place_activities, places, reviews,);
