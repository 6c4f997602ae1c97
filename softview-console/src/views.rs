//! The pages' templates (checked at compile time, HTML-escaped) and the words they show.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use softview::lifecycle::by_key::{Action, Effect, EffectKind};

#[derive(Template)]
#[template(path = "tables.html")]
pub struct TablesPage {
    pub database: String,
    pub role: String,
    pub actor: String,
    pub tables: Vec<TableLine>,
    pub worker: String,
}

pub struct TableLine {
    pub name: String,
    pub href: String,
    pub archive_href: String,
    pub kind: String,
    pub live: String,
    pub deleted: String,
    pub due: String,
    pub due_now: bool,
    pub archived: String,
    pub grace: String,
    pub last_purge: String,
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "table.html")]
pub struct TablePage {
    pub table: String,
    pub kind: String,
    pub grace: Option<String>,
    pub archive_href: String,
    pub notice: Option<String>,
    pub tabs: Vec<Tab>,
    pub columns: Vec<String>,
    pub rows: Vec<RowLine>,
    pub first_href: String,
    pub next_href: Option<String>,
}

pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

pub struct RowLine {
    pub anchor: String,
    pub key_text: String,
    pub state_class: &'static str,
    pub state_label: &'static str,
    pub deleted_at: Option<String>,
    pub purge_at: Option<Moment>,
    pub hidden_by: Option<String>,
    /// Column name and value.
    pub cells: Vec<(String, String)>,
    pub actions: Vec<ActionLink>,
}

/// A time for a countdown: ISO for the script, words for a page without it.
pub struct Moment {
    pub iso: String,
    pub text: String,
}

impl Moment {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            text: timestamp(at),
        }
    }
}

pub struct ActionLink {
    pub label: &'static str,
    pub class: &'static str,
    pub href: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub title: String,
    pub lead: String,
    pub table: String,
    pub error: Option<String>,
    pub refusal: Option<String>,
    pub effects: Vec<EffectLine>,
    pub row: Vec<(String, String)>,
    pub act_href: String,
    pub back_href: String,
    pub form_token: String,
    pub action: &'static str,
    pub key: Vec<String>,
    pub needs_reason: bool,
    pub actor: String,
    pub button: &'static str,
    pub button_class: &'static str,
}

pub struct EffectLine {
    pub table: String,
    pub rows: String,
    pub words: String,
    pub class: &'static str,
}

impl EffectLine {
    pub fn new(effect: &Effect) -> Self {
        let rows = effect.rows.unwrap_or_default();
        let plural = |one: &str, many: &str| {
            if rows == 1 {
                one.to_owned()
            } else {
                many.to_owned()
            }
        };
        let (words, class) = match effect.kind {
            EffectKind::SoftDeleted => (
                plural("row soft-deleted in", "rows soft-deleted in"),
                "self",
            ),
            EffectKind::AlreadyDeleted => {
                ("row already deleted, left as it is, in".to_owned(), "self")
            }
            EffectKind::Restored => (plural("row restored in", "rows restored in"), "self"),
            EffectKind::StillHidden => (
                format!(
                    "row stays hidden ({}) in",
                    effect.detail.as_deref().unwrap_or("a parent is deleted")
                ),
                "warn",
            ),
            EffectKind::Hidden => (
                plural("row hidden with it from", "rows hidden with it from"),
                "hide",
            ),
            EffectKind::Shown => (
                plural("row back with it in", "rows back with it in"),
                "show",
            ),
            EffectKind::Deleted => (
                plural("row deleted for good from", "rows deleted for good from"),
                "hide",
            ),
            EffectKind::Changed => (
                plural(
                    "row whose reference is set to NULL or its default in",
                    "rows whose references are set to NULL or their default in",
                ),
                "warn",
            ),
            _ => (effect.detail.clone().unwrap_or_default(), "warn"),
        };
        Self {
            table: effect.table.clone(),
            rows: effect.rows.map_or_else(String::new, |n| n.to_string()),
            words,
            class,
        }
    }
}

#[derive(Template)]
#[template(path = "archive.html")]
pub struct ArchivePage {
    pub table: Option<String>,
    pub notice: Option<String>,
    pub entries: Vec<ArchiveLine>,
    pub older_href: Option<String>,
    pub form_token: String,
}

pub struct ArchiveLine {
    pub id: i64,
    pub table: String,
    pub key: String,
    pub archived_at: String,
    pub actor: String,
    pub reason: String,
    pub role: String,
    pub transaction: i64,
    pub summary: String,
    pub row: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub message: String,
    pub back_href: String,
    pub back_label: String,
}

/// Renders a page with a status.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be rendered: {error}"),
        )
            .into_response(),
    }
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// What a path segment keeps as it is: `public.places` stays readable.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'_').remove(b'-');

/// A path segment, percent-encoded.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

pub fn table_href(table: &str) -> String {
    format!("/tables/{}", encode(table))
}

/// A query string from pairs, each value percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// A cell: strings as they are, everything else as JSON, long values cut.
pub fn cell(value: Option<&serde_json::Value>) -> String {
    const LONGEST: usize = 120;
    let text = match value {
        None | Some(serde_json::Value::Null) => "∅".to_owned(),
        // Timestamps as to_jsonb writes them, read as a person would.
        Some(serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map_or_else(|_| s.clone(), |t| timestamp(t.with_timezone(&Utc))),
        Some(other) => other.to_string(),
    };
    if text.chars().count() > LONGEST {
        text.chars().take(LONGEST).chain(['…']).collect()
    } else {
        text
    }
}

pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::SoftDelete => "soft_delete",
        Action::Restore => "restore",
        Action::HardDelete => "hard_delete",
    }
}

pub fn parse_action(name: &str) -> Option<Action> {
    match name {
        "soft_delete" => Some(Action::SoftDelete),
        "restore" => Some(Action::Restore),
        "hard_delete" => Some(Action::HardDelete),
        _ => None,
    }
}

/// A grace period in words, `10 minutes` or `30 days`, from its length in seconds.
pub fn period_words(seconds: f64) -> String {
    let seconds = seconds.round() as i64;
    let units = [
        (86_400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let parts: Vec<String> = units
        .iter()
        .scan(seconds, |left, (size, name)| {
            let n = *left / size;
            *left %= size;
            Some((n, name))
        })
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, name)| format!("{n} {name}{}", if n == 1 { "" } else { "s" }))
        .collect();
    if parts.is_empty() {
        "no time".to_owned()
    } else {
        parts.join(" ")
    }
}
