//! Request latency through the whole HTTP stack (axum, auth by API key against SQLite, the
//! GraphQL-over-HTTP layer, limits, execution), one request at a time over loopback.
//!
//! `cargo bench --bench gateway`; the figures are in the README. `fragment_bomb_2_30_refused` is
//! the refusal of a 30-level fragment-spread bomb (`graphql.max_fields`).

use criterion::{Criterion, criterion_group, criterion_main};
use nexus::{
    auth::Tenants,
    auth::create_api_key,
    config::Settings,
    startup::{Application, open_database},
};
use serde_json::json;

struct Bench {
    origin: String,
    key: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Bench {
    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.vault.key = Some(nexus::vault::Key::generate_hex());
    let db = open_database(&settings, dir.path()).await.unwrap();
    let key = create_api_key(&Tenants::new(db.clone()), "bench", "bench@nexus.local")
        .await
        .unwrap();
    let app = Application::build_with(&settings, db).await.unwrap();
    let origin = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    Bench {
        origin,
        key,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Bench {
    async fn query(&self, query: &str) {
        let response = self
            .client
            .post(format!("{}/graphql", self.origin))
            .bearer_auth(&self.key)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
}

fn gateway(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bench = runtime.block_on(start());
    let mut group = c.benchmark_group("http");
    group.bench_function("viewer", |b| {
        b.to_async(&runtime)
            .iter(|| bench.query("{ viewer { user { email } project { name } } }"))
    });
    group.bench_function("viewer_connections", |b| {
        b.to_async(&runtime)
            .iter(|| bench.query("{ viewer { connections { provider status scopes expiresAt } } }"))
    });
    group.bench_function("contacts_empty_nested", |b| {
        b.to_async(&runtime).iter(|| {
            bench.query(
                "{ contacts(first: 100) { nodes { id name deals(first: 5) { nodes { name } } } } }",
            )
        })
    });
    // `query { ...F0 } fragment F0 on Query { ...F1 ...F1 } …`, 30 levels: 2^30 fields
    // expanded, refused for `graphql.max_fields` in time linear in the document.
    let mut bomb = "query { ...F0 } ".to_owned();
    for i in 0..30 {
        bomb.push_str(&format!(
            "fragment F{i} on Query {{ ...F{0} ...F{0} }} ",
            i + 1
        ));
    }
    bomb.push_str("fragment F30 on Query { __typename }");
    group.bench_function("fragment_bomb_2_30_refused", |b| {
        b.to_async(&runtime).iter(|| bench.query(&bomb))
    });
    group.finish();
}

criterion_group!(benches, gateway);
criterion_main!(benches);
