//! Throw-away databases for tests: a fresh SQLite file in a temporary
//! directory, or a fresh PostgreSQL database created next to the one named
//! by `KAIROS_TEST_POSTGRES_URL` and dropped when the test ends.

use crate::{Backend, DatabaseUrl, Store, StoreOptions};
use sqlx::any::install_default_drivers;
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use std::path::PathBuf;

pub const POSTGRES_ENV: &str = "KAIROS_TEST_POSTGRES_URL";

/// The PostgreSQL maintenance URL when PostgreSQL tests are enabled.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|s| !s.trim().is_empty())
}

/// An isolated database, removed on drop.
pub struct TestDb {
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("kairos-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join("kairos.db");
        let url: DatabaseUrl = path.to_string_lossy().parse().expect("sqlite path");
        TestDb { url, cleanup: Cleanup::Dir(dir) }
    }

    /// A new database on the PostgreSQL server at `admin_url`.
    pub async fn postgres(admin_url: &str) -> TestDb {
        install_default_drivers();
        let name = format!("kairos_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = AnyConnection::connect(admin_url).await.expect("connect to the PostgreSQL test server");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let base = admin_url.split('?').next().unwrap_or(admin_url);
        let cut = base.rfind('/').filter(|&i| i > "postgres://".len()).unwrap_or(base.len());
        let url: DatabaseUrl = format!("{}/{name}", &base[..cut]).parse().expect("pg url");
        TestDb { url, cleanup: Cleanup::Postgres { admin_url: admin_url.to_string(), name } }
    }

    /// SQLite, or PostgreSQL when `KAIROS_TEST_POSTGRES_URL` is set: what the
    /// server tests run on.
    pub async fn default_backend() -> TestDb {
        match postgres_url() {
            Some(u) => TestDb::postgres(&u).await,
            None => TestDb::sqlite().await,
        }
    }

    /// One database per backend under test: SQLite always, PostgreSQL too
    /// when enabled.
    pub async fn every_backend() -> Vec<TestDb> {
        let mut v = vec![TestDb::sqlite().await];
        if let Some(u) = postgres_url() {
            v.push(TestDb::postgres(&u).await);
        }
        v
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url, StoreOptions::default()).await.expect("connect test store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var("KAIROS_TEST_KEEP_DB").is_ok() {
            eprintln!("keeping test database {:?}", self.url);
            return;
        }
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a runtime of our own
                // on another thread.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    if let Ok(rt) = rt {
                        rt.block_on(async move {
                            if let Ok(mut c) = AnyConnection::connect(&admin_url).await {
                                let _ =
                                    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                                        .execute(&mut c)
                                        .await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}
