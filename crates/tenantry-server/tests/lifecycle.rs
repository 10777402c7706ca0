//! Onboarding through the real binary, on PostgreSQL and S3: an enterprise
//! tenant gets its schema and a bucket of its own (created on S3 for real);
//! an onboarding that fails at the bucket step undoes the schema it had
//! made and leaves the tenant `failed`, the reason on its workflow.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::tenantry_cli;
use tenantry::context::TenantId;

struct Setup {
    pg: tenantry_testkit::PgTestDb,
    s3: String,
    bucket: String,
    dir: std::path::PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn setup() -> Option<Setup> {
    let pg = tenantry_testkit::postgres().await?;
    let s3 = tenantry_testkit::s3_endpoint()?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    Some(Setup {
        pg,
        s3,
        bucket: format!("onb{}", &id[..12]),
        dir: std::env::temp_dir().join(format!("tenantry-onboard-{id}")),
    })
}

impl Setup {
    fn cli(&self, secret: &str, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend([
            "--database-url",
            self.pg.url(),
            "--s3-endpoint",
            &self.s3,
            "--s3-access-key-id",
            tenantry_testkit::S3_ACCESS_KEY,
            "--s3-secret-access-key",
            secret,
            "--storage-bucket",
            &self.bucket,
        ]);
        tenantry_cli(&self.dir, &all)
    }

    async fn schema_exists(&self, tenant: TenantId) -> bool {
        let (client, connection) = tokio_postgres::connect(self.pg.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let schema = tenantry::data::postgres::schema_for(tenant);
        client
            .query_one(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 1
    }
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn an_enterprise_tenant_is_onboarded_with_a_bucket_of_its_own() {
    let Some(setup) = setup().await else {
        return;
    };
    let created = json(&setup.cli(
        tenantry_testkit::S3_SECRET_KEY,
        &[
            "tenants",
            "create",
            "--slug",
            "big",
            "--plan",
            "enterprise",
            "--tier",
            "schema",
            "--admin-email",
            "boss@big.example",
        ],
    ));
    assert_eq!(created["state"], "active");
    let id: TenantId = created["id"].as_str().unwrap().parse().unwrap();
    assert!(setup.schema_exists(id).await);
    let own = format!("{}-{}", setup.bucket, id.as_uuid().simple());
    assert_eq!(
        tenantry_testkit::s3_buckets(&own).await,
        std::slice::from_ref(&own)
    );
    let listed = setup.cli(tenantry_testkit::S3_SECRET_KEY, &["workflows", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("onboarding\tbig\tsucceeded"), "{listed}");
    tenantry_testkit::s3_drop_buckets(&setup.bucket).await;
}

#[tokio::test]
async fn onboarding_that_fails_at_the_bucket_undoes_what_it_made() {
    let Some(setup) = setup().await else {
        return;
    };
    // S3 refuses this key: the bucket step fails, after the schema was made.
    let failed = setup.cli(
        "not-the-secret-key",
        &[
            "tenants",
            "create",
            "--slug",
            "big",
            "--plan",
            "enterprise",
            "--tier",
            "schema",
        ],
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("onboarding big failed"), "{stderr}");
    assert!(stderr.contains("step storage failed"), "{stderr}");

    let record = json(&setup.cli(tenantry_testkit::S3_SECRET_KEY, &["tenants", "show", "big"]));
    assert_eq!(record["state"], "failed", "its requests get 404");
    let id: TenantId = record["id"].as_str().unwrap().parse().unwrap();
    assert!(!setup.schema_exists(id).await, "the schema was dropped");
    assert!(
        tenantry_testkit::s3_buckets(&format!("{}-{}", setup.bucket, id.as_uuid().simple()))
            .await
            .is_empty(),
        "no bucket was left"
    );
    let residue = setup.cli(
        tenantry_testkit::S3_SECRET_KEY,
        &["tenants", "residue", "big"],
    );
    assert!(
        residue.status.success() && residue.stdout.is_empty(),
        "nothing is left anywhere: {}{}",
        String::from_utf8_lossy(&residue.stdout),
        String::from_utf8_lossy(&residue.stderr)
    );
    let workflow = json(&setup.cli(tenantry_testkit::S3_SECRET_KEY, &["workflows", "show", "1"]));
    let states: Vec<&str> = workflow["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "compensated",
            "compensated",
            "failed",
            "pending",
            "pending",
            "pending",
            "pending"
        ]
    );
    assert_eq!(workflow["state"], "failed");

    // Retried as it was (same input, S3 still refusing): a new workflow
    // that fails the same way and is undone the same way.
    let retried = setup.cli("not-the-secret-key", &["workflows", "retry", "1"]);
    assert!(!retried.status.success());
    let again = json(&setup.cli(tenantry_testkit::S3_SECRET_KEY, &["workflows", "show", "2"]));
    assert_eq!(
        (
            again["kind"].as_str(),
            again["state"].as_str(),
            again["requested_by"].as_str()
        ),
        (Some("onboarding"), Some("failed"), Some("cli:retry"))
    );
    assert!(!setup.schema_exists(id).await);

    // With the right key, provisioning again finishes the tenant.
    let done = json(&setup.cli(
        tenantry_testkit::S3_SECRET_KEY,
        &["tenants", "provision", "big"],
    ));
    assert_eq!(done["state"], "active");
    assert!(setup.schema_exists(id).await);
    tenantry_testkit::s3_drop_buckets(&setup.bucket).await;
}
