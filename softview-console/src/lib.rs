//! softview's admin console: every enabled table of a database in the browser, deleted rows in
//! place with their purge countdown, *Delete*, *Undo* and *Delete permanently* with what each
//! will do shown before it is done, the archive with its restores, and pages that follow every
//! change live (`softview serve`).
//!
//! It is built on the library alone ([`softview::lifecycle::by_key`] for rows,
//! [`softview::lifecycle::archive`] for the archive, [`softview::lifecycle::events`] for the
//! live updates), the way an application would build its own screen. It connects as the role
//! the database URL names and can do nothing that role cannot.
//!
//! Safe by default: it listens on loopback and answers only requests addressed to a loopback
//! name there; anywhere else it needs a token. State changes are POSTs carrying a per-process
//! form token and checked for their origin; every value is escaped by the templates, and the
//! pages forbid inline scripts.

mod actions;
mod auth;
mod live;
mod pages;
mod queries;
mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool};

/// How the console runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database; the console connects as the role it names.
    pub database_url: String,
    /// Where to listen. Anything but a loopback address needs [`Config::token`].
    pub listen: SocketAddr,
    /// The token a browser must present (at `/login`) or a client send as
    /// `Authorization: Bearer …`. See [`token_from`].
    pub token: Option<String>,
    /// Recorded in the archive as the actor of permanent deletes made from the console.
    pub actor: String,
    /// Rows per table page.
    pub page_size: i32,
}

impl Config {
    /// A console for `database_url` on `listen`, without a token, deleting as `actor`.
    pub fn new(
        database_url: impl Into<String>,
        listen: SocketAddr,
        actor: impl Into<String>,
    ) -> Self {
        Self {
            database_url: database_url.into(),
            listen,
            token: None,
            actor: actor.into(),
            page_size: 50,
        }
    }
}

/// Why the console cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A non-loopback address without a token.
    #[error(
        "refusing to listen on {0} without a token: set SOFTVIEW_CONSOLE_TOKEN or pass --token-file, \
         or listen on a loopback address such as 127.0.0.1:7878"
    )]
    TokenRequired(SocketAddr),
    /// A token too short to resist guessing.
    #[error("the console token is too short: use at least {MIN_TOKEN_LEN} characters")]
    TokenTooShort,
    /// The token file could not be read.
    #[error("cannot read the token file {path}: {source}")]
    TokenFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The actor is blank.
    #[error("the console's actor must not be blank")]
    BlankActor,
    /// The database or the toolkit refused.
    #[error(transparent)]
    Softview(#[from] softview::Error),
    /// The connection pool could not be set up.
    #[error("cannot connect to the database: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
}

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The token from the environment variable's value or from a file (its first line), the
/// environment first. Never from the command line, where other users see it in `ps`.
pub fn token_from(env_value: Option<String>, file: Option<&Path>) -> Result<Option<String>, Error> {
    let token = match (env_value.filter(|t| !t.is_empty()), file) {
        (Some(token), _) => token,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|source| Error::TokenFile {
                path: path.display().to_string(),
                source,
            })?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        (None, None) => return Ok(None),
    };
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(Error::TokenTooShort);
    }
    Ok(Some(token))
}

/// What every handler shares.
struct Console {
    pool: Pool<ConnectionManager<PgConnection>>,
    live: live::Hub,
    guard: auth::Guard,
    actor: String,
    page_size: i32,
}

type Shared = Arc<Console>;

/// Serves the console on `listener` until `shutdown` completes. The listen address in `config`
/// is ignored here (the listener is bound); its token rules are not.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let address = listener.local_addr().map_err(|source| Error::Listen {
        address: config.listen,
        source,
    })?;
    let guard = auth::Guard::new(address, config.token.clone())?;
    if config.actor.trim().is_empty() {
        return Err(Error::BlankActor);
    }
    let database_url = config.database_url.clone();
    let pool = tokio::task::spawn_blocking(move || -> Result<_, Error> {
        let pool = Pool::builder()
            .max_size(8)
            .build(ConnectionManager::<PgConnection>::new(database_url))?;
        softview::toolkit::check_revision(&mut *pool.get()?)?;
        Ok(pool)
    })
    .await
    .expect("the pool set-up does not panic")?;
    let console = Arc::new(Console {
        pool,
        live: live::Hub::start(config.database_url.clone()),
        guard,
        actor: config.actor,
        page_size: config.page_size,
    });
    let stop = console.live.stopper();
    let app = router(console);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.stop();
        })
        .await;
    served.map_err(|source| Error::Listen { address, source })
}

/// Binds `config.listen`, prints where the console is, and serves until Ctrl-C or SIGTERM.
pub fn run(config: Config) -> Result<(), Error> {
    if !config.listen.ip().is_loopback() && config.token.is_none() {
        return Err(Error::TokenRequired(config.listen));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Listen {
            address: config.listen,
            source,
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Listen {
                address: config.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| Error::Listen {
            address: config.listen,
            source,
        })?;
        println!("softview console on http://{address}/ (Ctrl-C stops it)");
        if config.token.is_some() {
            println!("  open it and enter the token at http://{address}/login");
        }
        serve(listener, config, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be watched");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn router(console: Shared) -> Router {
    Router::new()
        .route("/", get(pages::tables))
        .route("/tables/{table}", get(pages::table))
        .route("/tables/{table}/confirm", get(pages::confirm))
        .route("/tables/{table}/act", post(actions::act))
        .route("/archive", get(pages::archive))
        .route("/archive/restore", post(actions::restore_archived))
        .route("/events", get(live::events))
        .route("/login", get(pages::login).post(actions::login))
        .route("/assets/console.css", get(pages::stylesheet))
        .route("/assets/console.js", get(pages::script))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&console),
            auth::check,
        ))
        .with_state(console)
}
