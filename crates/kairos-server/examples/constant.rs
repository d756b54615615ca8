//! Benchmark baseline: an axum server whose only handler returns a constant
//! JSON body of about the chart's size, with the same runtime settings as
//! Kairos. `cargo run --release -p kairos-server --example constant -- 127.0.0.1:8098`

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8098".into());
    let body: &'static str = Box::leak("x".repeat(7000).into_boxed_str());
    let app = Router::new()
        .route("/api/v1/clients/{id}", get(move || async move { ([("content-type", "application/json")], body) }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("constant-response server on http://{listen}/");
    axum::serve(listener, app).await
}
