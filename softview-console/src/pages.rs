//! The pages: tables, a table's rows, what an action will do, the archive, and the login.

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use diesel::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Oid, Text};
use softview::lifecycle::by_key::{self, Action, EffectKind, RowState, Shown};

use crate::Shared;
use crate::queries::{self, Count};
use crate::views::{self, *};

/// Why a request could not be answered as asked; every one is a page in words.
pub enum Failure {
    /// The database or the toolkit said no.
    Softview(softview::Error),
    /// The request itself is wrong.
    BadRequest(String),
    /// No connection could be had.
    Unavailable(String),
}

impl From<softview::Error> for Failure {
    fn from(error: softview::Error) -> Self {
        Failure::Softview(error)
    }
}

impl Failure {
    pub fn into_page(self, back_href: &str, back_label: &str) -> Response {
        use softview::Error as E;
        let (status, title, message) = match self {
            Failure::BadRequest(message) => (StatusCode::BAD_REQUEST, "Not understood", message),
            Failure::Unavailable(message) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
                message,
            ),
            Failure::Softview(error) => {
                let status = match &error {
                    E::NotFound { .. } | E::NotEnabled { .. } => StatusCode::NOT_FOUND,
                    E::InvalidArgument(_) => StatusCode::BAD_REQUEST,
                    E::Connection(_) => StatusCode::SERVICE_UNAVAILABLE,
                    E::Database(_) if error.to_string().starts_with("permission denied") => {
                        StatusCode::FORBIDDEN
                    }
                    E::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::CONFLICT,
                };
                let title = match status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::FORBIDDEN => "Not allowed",
                    StatusCode::CONFLICT => "Not done",
                    _ => "Something went wrong",
                };
                (status, title, sentence(&error.to_string()))
            }
        };
        views::render(
            status,
            &MessagePage {
                title: title.to_owned(),
                message: format!("{message} Nothing was changed."),
                back_href: back_href.to_owned(),
                back_label: back_label.to_owned(),
            },
        )
    }
}

/// One line, ending with a full stop: libpq's messages may span lines.
fn sentence(message: &str) -> String {
    let joined = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.ends_with('.') {
        joined
    } else {
        format!("{joined}.")
    }
}

/// Runs `work` on a pooled connection, off the async threads.
pub async fn db<T: Send + 'static>(
    console: &Shared,
    work: impl FnOnce(&mut PgConnection) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let pool = console.pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool
            .get()
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        work(&mut conn)
    })
    .await
    .unwrap_or_else(|e| {
        Err(Failure::Unavailable(format!(
            "the request's work stopped: {e}"
        )))
    })
}

/// A query string's pairs, repeated names kept in order.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: &[u8]) -> Self {
        Params(form_urlencoded::parse(raw).into_owned().collect())
    }

    pub fn from_query(raw: Option<String>) -> Self {
        Self::parse(raw.unwrap_or_default().as_bytes())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

pub async fn tables(State(console): State<Shared>) -> Response {
    let shared = console.clone();
    let result = db(&console, move |conn| {
        let (database, role): (String, String) = diesel::select((
            diesel::dsl::sql::<Text>("current_database()::text"),
            diesel::dsl::sql::<Text>("current_user::text"),
        ))
        .get_result(conn)
        .map_err(softview::Error::from)?;
        let archived = queries::archived_counts(conn)?;
        let mut lines = Vec::new();
        for table in queries::enabled_tables(conn, None)? {
            let last_purge = shared.live.last_purge(&table.name);
            lines.push(table_line(queries::counts(conn, &table, &archived), &table, last_purge));
        }
        let workers: Vec<String> = diesel::sql_query(
            "SELECT format('a softview worker is connected (process %s, since %s)', pid,
                           to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')) AS line
             FROM pg_stat_activity WHERE application_name = 'softview worker' AND datname = current_database()
             ORDER BY backend_start",
        )
        .load::<Line>(conn)
        .map_err(softview::Error::from)?
        .into_iter()
        .map(|l| l.line)
        .collect();
        let worker = if workers.is_empty() {
            "No softview worker is connected: deleted rows due for purge wait until `softview worker` \
             or `softview purge` runs (or a pg_cron job)."
                .to_owned()
        } else {
            format!("Purges: {}.", workers.join("; "))
        };
        Ok(TablesPage {
            database,
            role,
            actor: shared.actor.clone(),
            tables: lines,
            worker,
        })
    })
    .await;
    match result {
        Ok(page) => views::render(StatusCode::OK, &page),
        Err(failure) => failure.into_page("/", "Try again"),
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

fn table_line(
    counts: softview::Result<queries::TableCounts>,
    table: &queries::EnabledTable,
    last_purge: Option<chrono::DateTime<chrono::Utc>>,
) -> TableLine {
    let shown = |count: Count| match count {
        Count::Exact(n) => n.to_string(),
        Count::About(n) => format!("≈ {n}"),
    };
    let number = |count: Option<Count>| count.map_or_else(|| "–".to_owned(), shown);
    let mut line = TableLine {
        name: table.name.clone(),
        href: table_href(&table.name),
        archive_href: format!("/archive?{}", query(&[("table", &table.name)])),
        kind: if table.soft_deletable {
            table.kind.clone()
        } else {
            format!("{} (dependent)", table.kind)
        },
        live: String::new(),
        deleted: String::new(),
        due: String::new(),
        due_now: false,
        archived: String::new(),
        grace: table.grace_seconds.map_or_else(|| "–".into(), period_words),
        last_purge: last_purge.map_or_else(|| "none seen".to_owned(), timestamp),
        problem: None,
    };
    match counts {
        Ok(counts) => {
            line.live = shown(counts.live);
            line.deleted = number(counts.deleted);
            line.due = number(counts.due);
            line.due_now = counts.due.is_some_and(|due| due.value() > 0);
            line.archived = shown(counts.archived);
        }
        Err(error) => line.problem = Some(sentence(&error.to_string())),
    }
    line
}

pub async fn table(
    State(console): State<Shared>,
    Path(table): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::from_query(raw);
    let shown: Shown = match params.get("shown").unwrap_or("all").parse() {
        Ok(shown) => shown,
        Err(error) => {
            return Failure::Softview(error).into_page(&table_href(&table), "Show every row");
        }
    };
    let after = params.all("after");
    let notice = done_notice(&params);
    let page_size = console.page_size;
    let name = table.clone();
    let result = db(&console, move |conn| {
        // browse names what is wrong with the table first (not enabled, a view, …).
        let mut rows = by_key::browse(
            conn,
            &name,
            shown,
            (!after.is_empty()).then_some(&after[..]),
            page_size + 1,
        )?;
        let info = queries::enabled_tables(conn, Some(&name))?
            .pop()
            .ok_or_else(|| Failure::BadRequest(format!("{name} is not an enabled table")))?;
        let columns = queries::columns(conn, info.oid)?;
        let next_after = (rows.len() > page_size as usize).then(|| {
            rows.truncate(page_size as usize);
            rows.last().map(|r| r.key.clone()).unwrap_or_default()
        });
        let mut lines = Vec::with_capacity(rows.len());
        for row in rows {
            let hidden_by = match row.state {
                RowState::Hidden => by_key::hidden_by(conn, &info.name, &row.key)?
                    .map(|parent| format!("hidden while {parent} is deleted")),
                _ => None,
            };
            lines.push(row_line(&info, &columns, row, hidden_by));
        }
        Ok((info, columns, lines, next_after))
    })
    .await;
    let (info, columns, rows, next_after) = match result {
        Ok(found) => found,
        Err(failure) => return failure.into_page("/", "Back to the tables"),
    };
    let href = table_href(&info.name);
    let tabs = [
        ("Live", Shown::Live),
        ("Deleted", Shown::Deleted),
        ("All", Shown::All),
    ]
    .into_iter()
    .map(|(label, tab)| Tab {
        label,
        href: format!("{href}?{}", query(&[("shown", tab.as_str())])),
        current: tab == shown,
    })
    .collect();
    let next_href = next_after.map(|key| {
        let mut pairs = vec![("shown", shown.as_str())];
        pairs.extend(key.iter().map(|k| ("after", k.as_str())));
        format!("{href}?{}", query(&pairs))
    });
    views::render(
        StatusCode::OK,
        &TablePage {
            kind: if info.soft_deletable {
                match info.kind.as_str() {
                    "table" => "soft-deletable table".to_owned(),
                    kind => format!("soft-deletable {kind} table"),
                }
            } else {
                format!(
                    "dependent {} table: its rows hide with their parents",
                    info.kind
                )
            },
            grace: info.grace_seconds.map(period_words),
            archive_href: format!("/archive?{}", query(&[("table", &info.name)])),
            notice,
            tabs,
            columns,
            rows,
            first_href: format!("{href}?{}", query(&[("shown", shown.as_str())])),
            next_href,
            table: info.name,
        },
    )
}

/// The line a finished action leaves on the page it returns to.
fn done_notice(params: &Params) -> Option<String> {
    let key = params.all("key").join(", ");
    Some(match params.get("done")? {
        "soft_delete" => {
            format!("Soft-deleted the row with key {key}. Undo brings it back until it is purged.")
        }
        "restore" => format!("Restored the row with key {key}."),
        "hard_delete" => {
            format!("Deleted the row with key {key} for good; the archive keeps a copy.")
        }
        "restore_archived" => format!("Restored archive entry {key}."),
        "restore_transaction" => format!("Restored every row of transaction {key}."),
        _ => return None,
    })
}

fn row_line(
    info: &queries::EnabledTable,
    columns: &[String],
    row: by_key::StoredRow,
    hidden_by: Option<String>,
) -> RowLine {
    let key_pairs: Vec<(&str, &str)> = row.key.iter().map(|k| ("key", k.as_str())).collect();
    let link = |action: Action, label, class| {
        let mut pairs = vec![("action", views::action_name(action))];
        pairs.extend(key_pairs.iter().copied());
        ActionLink {
            label,
            class,
            href: format!("{}/confirm?{}", table_href(&info.name), query(&pairs)),
        }
    };
    let mut actions = Vec::new();
    match row.state {
        RowState::Deleted => actions.push(link(Action::Restore, "Undo", "undo")),
        RowState::Live | RowState::Hidden if info.soft_deletable => {
            actions.push(link(Action::SoftDelete, "Delete", "delete"))
        }
        _ => {}
    }
    actions.push(link(Action::HardDelete, "Delete permanently", "danger"));
    let (state_class, state_label) = match row.state {
        RowState::Live => ("live", "live"),
        RowState::Deleted => ("deleted", "deleted"),
        RowState::Hidden => ("hidden", "hidden"),
    };
    RowLine {
        anchor: format!(
            "row-{}",
            row.key
                .iter()
                .map(|k| encode(k))
                .collect::<Vec<_>>()
                .join("-")
        ),
        key_text: row.key.join(","),
        state_class,
        state_label,
        deleted_at: row.deleted_at.map(timestamp),
        purge_at: row.purge_at.map(Moment::new),
        hidden_by,
        cells: columns
            .iter()
            .map(|c| (c.clone(), cell(row.row.get(c))))
            .collect(),
        actions,
    }
}

pub async fn confirm(
    State(console): State<Shared>,
    Path(table): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::from_query(raw);
    let back = table_href(&table);
    let Some(action) = params.get("action").and_then(views::parse_action) else {
        return Failure::BadRequest("say which action: soft_delete, restore or hard_delete".into())
            .into_page(&back, "Back to the table");
    };
    let key = params.all("key");
    match confirm_page(&console, table, action, key, None).await {
        Ok(page) => views::render(StatusCode::OK, &page),
        Err(failure) => failure.into_page(&back, "Back to the table"),
    }
}

/// The confirmation page of `action` on a row: what it will do, measured now.
pub async fn confirm_page(
    console: &Shared,
    table: String,
    action: Action,
    key: Vec<String>,
    error: Option<String>,
) -> Result<ConfirmPage, Failure> {
    if key.is_empty() {
        return Err(Failure::BadRequest("say which row: give its key".into()));
    }
    let actor = console.actor.clone();
    let (name, key, row, columns, effects) = db(console, move |conn| {
        let info = queries::enabled_tables(conn, Some(&table))?.pop();
        let name = info.as_ref().map_or(table.clone(), |i| i.name.clone());
        let key = by_key::key_values(conn, &name, &key)?;
        // The actor's own rules (softview.require_actor) hold in the preview as in the delete.
        let effects = softview::as_actor(conn, &actor, None, |conn| {
            by_key::preview(conn, &name, &key, action)
        })?;
        let row = by_key::stored_row(conn, &name, &key)?.unwrap_or_default();
        let columns = match info {
            Some(info) => queries::columns(conn, info.oid)?,
            None => Vec::new(),
        };
        Ok((name, key, row, columns, effects))
    })
    .await?;
    let refusal = effects
        .iter()
        .find(|e| e.kind == EffectKind::Refused)
        .map(|e| e.detail.clone().unwrap_or_default());
    let (verb, lead, button, button_class) = match action {
        Action::SoftDelete => (
            "Delete",
            "Deleting moves the row to the trash: it leaves every view at once, with what hangs from it, and comes back with Undo until its grace period ends.",
            "Delete",
            "delete",
        ),
        Action::Restore => (
            "Undo the delete of",
            "Undo brings the row back, with what was hidden with it.",
            "Undo",
            "undo",
        ),
        Action::HardDelete => (
            "Delete permanently",
            "A permanent delete cannot be undone here; the archive keeps a copy of every row it removes.",
            "Delete permanently",
            "danger",
        ),
    };
    Ok(ConfirmPage {
        title: format!("{verb} {name} {}?", key.join(", ")),
        lead: lead.to_owned(),
        error,
        refusal,
        effects: effects.iter().map(EffectLine::new).collect(),
        row: columns
            .iter()
            .map(|c| (c.clone(), cell(row.get(c))))
            .collect(),
        act_href: format!("{}/act", table_href(&name)),
        back_href: table_href(&name),
        form_token: console.guard.form_token().to_owned(),
        action: views::action_name(action),
        key,
        needs_reason: action == Action::HardDelete,
        actor: console.actor.clone(),
        button,
        button_class,
        table: name,
    })
}

pub async fn archive(State(console): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let params = Params::from_query(raw);
    let table = params.get("table").map(str::to_owned);
    let before = match params.get("before").map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return Failure::BadRequest("before= takes an archive entry's number".into())
                .into_page("/archive", "Back to the archive");
        }
    };
    let notice = done_notice(&params);
    let filter = table.clone();
    let result = db(&console, move |conn| {
        let oid = match &filter {
            None => None,
            Some(name) => Some(
                diesel::select(
                    diesel::dsl::sql::<Nullable<Oid>>("to_regclass(")
                        .bind::<Text, _>(name)
                        .sql(")::oid"),
                )
                .get_result::<Option<u32>>(conn)
                .map_err(softview::Error::from)?
                .ok_or_else(|| Failure::BadRequest(format!("there is no table {name}")))?,
            ),
        };
        Ok(queries::archive_page(conn, oid, before, 50)?)
    })
    .await;
    let entries = match result {
        Ok(entries) => entries,
        Err(failure) => return failure.into_page("/archive", "Back to the archive"),
    };
    let older_href = (entries.len() == 50).then(|| {
        let last = entries.last().map_or(0, |e| e.id).to_string();
        let mut pairs = vec![("before", last.as_str())];
        if let Some(t) = &table {
            pairs.push(("table", t));
        }
        format!("/archive?{}", query(&pairs))
    });
    let lines = entries
        .into_iter()
        .map(|e| {
            let row = serde_json::to_string_pretty(&e.row_data).unwrap_or_default();
            ArchiveLine {
                id: e.id,
                table: e.table_name,
                key: e.primary_key.to_string(),
                archived_at: timestamp(e.archived_at),
                actor: e.actor.unwrap_or_else(|| "–".into()),
                reason: e.reason.unwrap_or_else(|| "–".into()),
                role: match (e.database_role, e.purged) {
                    (Some(role), true) => format!("{role} (purge)"),
                    (Some(role), false) => role,
                    (None, _) => "–".into(),
                },
                transaction: e.transaction_id,
                summary: cell(Some(&serde_json::Value::String(e.row_data.to_string()))),
                row,
            }
        })
        .collect();
    views::render(
        StatusCode::OK,
        &ArchivePage {
            table,
            notice,
            entries: lines,
            older_href,
            form_token: console.guard.form_token().to_owned(),
        },
    )
}

pub async fn login() -> Response {
    views::render(StatusCode::OK, &LoginPage { error: None })
}

pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/console.css"),
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/console.js"),
    )
        .into_response()
}
