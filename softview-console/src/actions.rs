//! The POSTs: an action on a row, a restore from the archive, and the login. Each checks the
//! form token; the origin was checked by the middleware.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use softview::lifecycle::archive;
use softview::lifecycle::by_key::{self, Action};

use crate::Shared;
use crate::auth::SESSION_COOKIE;
use crate::pages::{Failure, Params, confirm_page, db};
use crate::views::{self, LoginPage, query, table_href};

fn forged() -> Response {
    (
        StatusCode::FORBIDDEN,
        "Refused: the form did not come from this console (its form token is missing or stale). \
         Reload the page and try again.",
    )
        .into_response()
}

/// `POST /tables/{table}/act`: soft delete, undo or permanent delete of one row.
pub async fn act(
    State(console): State<Shared>,
    Path(table): Path<String>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    if !console.guard.form_token_matches(form.get("csrf")) {
        return forged();
    }
    let back = table_href(&table);
    let Some(action) = form.get("action").and_then(views::parse_action) else {
        return Failure::BadRequest("say which action: soft_delete, restore or hard_delete".into())
            .into_page(&back, "Back to the table");
    };
    let key = form.all("key");
    if key.is_empty() {
        return Failure::BadRequest("say which row: give its key".into())
            .into_page(&back, "Back to the table");
    }
    let reason = form
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if action == Action::HardDelete && reason.is_none() {
        let page = confirm_page(
            &console,
            table,
            action,
            key,
            Some("Say why: a permanent delete is archived with its reason.".into()),
        )
        .await;
        return match page {
            Ok(page) => views::render(StatusCode::UNPROCESSABLE_ENTITY, &page),
            Err(failure) => failure.into_page(&back, "Back to the table"),
        };
    }
    let actor = console.actor.clone();
    let name = table.clone();
    let done = db(&console, move |conn| {
        let key = by_key::key_values(conn, &name, &key)?;
        match action {
            Action::SoftDelete => by_key::soft_delete(conn, &name, &key)?,
            Action::Restore => by_key::restore(conn, &name, &key)?,
            Action::HardDelete => softview::as_actor(conn, &actor, reason.as_deref(), |conn| {
                by_key::hard_delete(conn, &name, &key)
            })?,
        };
        Ok(key)
    })
    .await;
    match done {
        Ok(key) => {
            let mut pairs = vec![("shown", "all"), ("done", views::action_name(action))];
            pairs.extend(key.iter().map(|k| ("key", k.as_str())));
            Redirect::to(&format!("{back}?{}", query(&pairs))).into_response()
        }
        Err(failure) => failure.into_page(&back, "Back to the table"),
    }
}

/// `POST /archive/restore`: one archive entry (`id`) or every row of a transaction
/// (`transaction`).
pub async fn restore_archived(State(console): State<Shared>, body: Bytes) -> Response {
    let form = Params::parse(&body);
    if !console.guard.form_token_matches(form.get("csrf")) {
        return forged();
    }
    let number = |name| form.get(name).map(|v| v.parse::<i64>().map_err(|_| name));
    let target = match (number("id"), number("transaction")) {
        (Some(Ok(id)), None) => Ok(("restore_archived", id)),
        (None, Some(Ok(transaction))) => Ok(("restore_transaction", transaction)),
        (Some(Err(name)), _) | (_, Some(Err(name))) => Err(format!("{name} must be a number")),
        _ => Err("give an archive entry (id) or a transaction, one of them".to_owned()),
    };
    let (done, number) = match target {
        Ok(target) => target,
        Err(message) => {
            return Failure::BadRequest(message).into_page("/archive", "Back to the archive");
        }
    };
    let restored = db(&console, move |conn| {
        if done == "restore_archived" {
            archive::restore_any(conn, number)?;
        } else {
            archive::restore_transaction(conn, number)?;
        }
        Ok(())
    })
    .await;
    match restored {
        Ok(()) => {
            let number = number.to_string();
            Redirect::to(&format!(
                "/archive?{}",
                query(&[("done", done), ("key", &number)])
            ))
            .into_response()
        }
        Err(failure) => failure.into_page("/archive", "Back to the archive"),
    }
}

/// `POST /login`: the token, checked, becomes a cookie that only this site's requests carry.
pub async fn login(State(console): State<Shared>, body: Bytes) -> Response {
    let form = Params::parse(&body);
    match form.get("token") {
        Some(token) if console.guard.token_matches(token) => (
            [(
                header::SET_COOKIE,
                format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"),
            )],
            Redirect::to("/"),
        )
            .into_response(),
        _ => views::render(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                error: Some("That is not the console's token.".into()),
            },
        ),
    }
}
