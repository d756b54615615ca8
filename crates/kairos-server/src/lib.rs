//! The Kairos HTTP server: JSON API (`/api/v1`), server-rendered web UI,
//! sign-in and role checks. Handlers stay thin: authenticate, check the role,
//! parse into domain types, call the store, render.

pub mod access;
pub mod api;
pub mod auth;
pub mod clock;
pub mod error;
pub mod extract;
pub mod mailer;
pub mod mfa;
pub mod spreadsheet;
pub mod state;
pub mod ui;
pub mod usecase;

pub use state::{AppState, Config, Crisis};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use kairos_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

/// Builds the whole application router.
pub fn app(store: Store, config: Config) -> Router {
    // Unknown e-mails are verified against this hash so that a failed sign-in
    // takes as long whether or not the account exists.
    let dummy = auth::hash_password("kairos-dummy-password-for-timing").unwrap_or_default();
    let secure = config.secure_cookies;
    let proxies = config.trusted_proxies.clone();
    let state = AppState { store, config: Arc::new(config), dummy_hash: Arc::new(dummy) };
    let (api_router, openapi) = api::router().split_for_parts();
    let openapi = api::contract::complete(serde_json::to_value(&openapi).unwrap_or_default());
    let openapi = Arc::new(openapi);
    let api_router = api_router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/api/{*rest}", axum::routing::any(|| async { error::AppError::NotFound("no such API route".into()) }));
    Router::new()
        .merge(ui::router())
        .merge(api_router)
        .fallback(|| async {
            ui::page_error(axum::http::StatusCode::NOT_FOUND, "There is no page at this address.", None)
        })
        .with_state(state)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cache-control"),
            HeaderValue::from_static("no-store"),
        ))
        // No page needs the camera, microphone, location or payments.
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(
                "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()",
            ),
        ))
        // Over HTTPS (secure cookies), browsers keep to HTTPS for a year.
        .layer(axum::middleware::map_response(move |mut res: axum::response::Response| async move {
            if secure {
                res.headers_mut().entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HeaderValue::from_static(
                    "max-age=31536000; includeSubDomains",
                ));
            }
            res
        }))
        .layer(axum::middleware::from_fn(move |req, next| forwarded_for(proxies.clone(), req, next)))
}

/// Behind a trusted reverse proxy, the client's address is the last one in
/// `X-Forwarded-For` that is not itself a trusted proxy; every later reader
/// of the connection's address (the audit log, sign-in throttling) sees it.
/// A request from any other peer keeps the peer's address, whatever
/// `X-Forwarded-For` it sends.
async fn forwarded_for(
    trusted: Arc<Vec<ipnet::IpNet>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::extract::ConnectInfo;
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|n| n.contains(&ip));
    if let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
        && is_trusted(peer.ip())
    {
        let chain: Vec<std::net::IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        if let Some(client) = chain.iter().rev().find(|ip| !is_trusted(**ip)) {
            req.extensions_mut().insert(ConnectInfo(SocketAddr::new(*client, 0)));
        }
    }
    next.run(req).await
}

/// A bound, ready-to-run server. Binding port 0 picks a free port; `addr`
/// tells which.
pub struct Server {
    listener: TcpListener,
    router: Router,
    store: Store,
    session: kairos_store::sessions::SessionPolicy,
    mail: Option<mailer::MailConfig>,
    pub addr: SocketAddr,
}

impl Server {
    pub async fn bind(listen: &str, store: Store, config: Config) -> std::io::Result<Server> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let session = config.session;
        let mail = config.mail.clone();
        Ok(Server { listener, router: app(store.clone(), config), store, session, mail, addr })
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Ended sessions are deleted a day after they end (their sign-in and
        // sign-out stay in the audit log).
        let (store, policy) = (self.store.clone(), self.session);
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(15 * 60));
            loop {
                tick.tick().await;
                if let Err(e) = store.purge_sessions(&policy).await {
                    tracing::warn!(error = %e, "purging ended sessions failed");
                }
            }
        });
        // Reminders and the outbox, when the clinic has configured SMTP.
        let mailer = self.mail.clone().map(|cfg| tokio::spawn(mailer::run(self.store.clone(), cfg)));
        // TCP_NODELAY: the last, partial segment of a response goes out at
        // once instead of waiting for the client's (possibly delayed) ACK.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set on a connection");
            }
        });
        let served = axum::serve(listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        housekeeping.abort();
        if let Some(m) = mailer {
            m.abort();
        }
        served
    }
}
