//! TLS to PostgreSQL with certificates made by the test, on a server of
//! the test's own: `sslmode` is honoured as libpq honours it, and
//! `verify-full` refuses a certificate made for another host.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tenantry::data::postgres::{PgDatabase, SslMode, migrate, parse_url};
use tenantry_testkit::certs::TestCerts;
use tenantry_testkit::pg_cluster::PgCluster;

/// Whether the connection behind `db` is encrypted, as the server sees it.
async fn encrypted(db: &PgDatabase) -> Result<bool, String> {
    let client = db.client().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmode_is_honoured_and_verify_full_checks_the_host() {
    let dir = std::env::temp_dir().join(format!("tenantry-tls-{}", uuid::Uuid::new_v4().simple()));
    // The certificate names `localhost` only: 127.0.0.1 is "another host".
    let certs = TestCerts::generate(&dir, "tenantry test CA", &["localhost"]);
    let stranger = TestCerts::generate(&dir.join("other"), "another CA", &["localhost"]);
    let Some(cluster) = PgCluster::start(Some(&certs)) else {
        return;
    };
    let ca = certs.ca.display().to_string();
    let port = cluster.port();
    let url =
        |host: &str, query: String| format!("postgres://postgres@{host}:{port}/postgres?{query}");
    let connect = |url: String| async move {
        let db = PgDatabase::connect(&url, 1).map_err(|e| e.to_string())?;
        encrypted(&db).await
    };

    assert_eq!(
        connect(url(
            "localhost",
            format!("sslmode=verify-full&sslrootcert={ca}")
        ))
        .await,
        Ok(true),
        "the right name under the right CA"
    );
    let wrong_host = connect(url(
        "127.0.0.1",
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await;
    assert!(
        wrong_host.is_err(),
        "verify-full must refuse a certificate for another host"
    );
    assert_eq!(
        connect(url(
            "127.0.0.1",
            format!("sslmode=verify-ca&sslrootcert={ca}")
        ))
        .await,
        Ok(true),
        "verify-ca checks the chain, not the name"
    );
    let other_ca = stranger.ca.display();
    assert!(
        connect(url(
            "localhost",
            format!("sslmode=verify-ca&sslrootcert={other_ca}")
        ))
        .await
        .is_err(),
        "a certificate from an untrusted CA is refused"
    );
    assert_eq!(
        connect(url("127.0.0.1", "sslmode=require".into())).await,
        Ok(true)
    );
    assert_eq!(
        connect(url("127.0.0.1", "sslmode=disable".into())).await,
        Ok(false)
    );

    // The owner's connections (migrations) go the same way.
    let owner = migrate::connect(&url(
        "localhost",
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .unwrap();
    let row = owner
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert!(
        migrate::connect(&url(
            "127.0.0.1",
            format!("sslmode=verify-full&sslrootcert={ca}")
        ))
        .await
        .is_err()
    );

    let (_, tls) = parse_url(&url(
        "localhost",
        format!("sslmode=require&sslrootcert={ca}"),
    ))
    .unwrap();
    assert_eq!(
        tls.mode(),
        SslMode::VerifyCa,
        "require with a root certificate checks the chain"
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(dir);
}
