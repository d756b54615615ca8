use kairos_domain::roles::{Role, Roles};
use kairos_domain::staff::StaffInput;
use kairos_server::{Config, Server};
use kairos_store::testing::TestDb;
use kairos_store::{Actor, Store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub api: reqwest::Client,
    pub store: Store,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _db: Option<TestDb>,
}

pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub set_cookie: Vec<String>,
    pub body: Value,
}

impl Resp {
    /// The problem document's `field`, asserting the response is problem+json.
    pub fn problem_field(&self) -> Option<&str> {
        assert_eq!(self.content_type, "application/problem+json", "body: {}", self.body);
        assert_eq!(self.body["status"].as_u64(), Some(u64::from(self.status.as_u16())));
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        self.body["field"].as_str()
    }
}

/// No role must sign in in two steps here (the tests of two-step sign-in,
/// `mfa.rs`, turn it on).
pub fn test_config() -> Config {
    Config { secure_cookies: false, mfa_required: Vec::new(), ..Config::default() }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_config()).await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    let db = TestDb::default_backend().await;
    let store = db.store().await;
    let mut app = serve(store, config).await;
    app._db = Some(db);
    app
}

/// Starts a server over an existing store (several servers may share a database).
pub async fn serve(store: Store, config: Config) -> TestApp {
    let server = Server::bind("127.0.0.1:0", store.clone(), config).await.expect("bind");
    let base = format!("http://{}", server.addr);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    let api = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    TestApp { base, api, store, _shutdown: tx, _db: None }
}

static STAFF_SEQ: AtomicUsize = AtomicUsize::new(0);

impl TestApp {
    /// A new staff member with `roles`; returns (email, id).
    pub async fn add_staff(&self, roles: &[Role]) -> (String, kairos_domain::ids::StaffId) {
        let n = STAFF_SEQ.fetch_add(1, Ordering::Relaxed);
        let label = roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("-");
        let email = format!("{label}.{n}@test.kairos");
        let input =
            StaffInput::parse(&format!("Test {label} {n}"), &email, Roles::new(roles.iter().copied()).expect("roles"))
                .expect("staff input");
        let hash = kairos_server::auth::hash_password(PASSWORD).expect("hash");
        let s = self.store.create_staff(&Actor::system("test"), &input, Some(&hash)).await.expect("create staff");
        (email, s.id)
    }

    /// Signs in a new staff member with `role`; returns the bearer token.
    pub async fn token_for(&self, role: Role) -> String {
        let (email, _) = self.add_staff(&[role]).await;
        self.login(&email, PASSWORD).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
        r.body["token"].as_str().expect("token").to_string()
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.api.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        into_resp(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Sends a raw body with a content type.
    pub async fn post_raw(&self, path: &str, token: &str, content_type: &str, body: &str) -> Resp {
        let req = self
            .api
            .post(format!("{}{}", self.base, path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_string());
        into_resp(req.send().await.expect("request")).await
    }

    /// Registers a client through the API; returns its id.
    pub async fn create_client(&self, token: &str, given: &str, family: &str) -> String {
        let r = self
            .post(
                "/api/v1/clients",
                token,
                json!({"given_name": given, "family_name": family, "date_of_birth": "1985-04-12"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    pub async fn client_count(&self) -> i64 {
        self.store.count_clients().await.expect("count")
    }
}

pub async fn into_resp(res: reqwest::Response) -> Resp {
    let status = res.status();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let set_cookie =
        res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_string)).collect();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp { status, content_type, set_cookie, body }
}

/// A cookie-keeping web client signed in through the sign-in form.
pub async fn web_session(app: &TestApp, email: &str) -> reqwest::Client {
    let c =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("c");
    let r = c
        .post(format!("{}/login", app.base))
        .form(&[("email", email), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    c
}

/// Records an e-mail address on a client's details (as the chart's audited
/// edit does); portal invitations go only to the address on file.
pub async fn set_client_email(app: &TestApp, client: &str, email: &str) {
    let id: kairos_domain::ids::ClientId = client.parse().expect("client id");
    let mut c = app.store.get_client(id).await.expect("client");
    c.details.email = Some(kairos_domain::text::Email::parse("email", email).expect("email"));
    app.store.update_client(&Actor::system("test"), id, &c.details).await.expect("update client");
}
