//! Load through the gateway beside the upstream floor, for
//! `contacts(first: 100) { nodes { company { name } deals(first: 5) { nodes { name } } } }`.
//!
//! The sandbox runs in its own process (`nexus sandbox`, limits off), the gateway in another
//! (`nexus demo --sandbox-url`, both CRMs connected through the real OAuth flow, its own rate
//! limiting off as well). The floor is
//! the same data fetched from the sandbox directly with the fewest calls the providers allow:
//! each CRM's newest 100 contacts in parallel, merged, then their companies and deals (HubSpot:
//! association batch reads, then object batch reads; Salesforce: `IN (...)` queries). Both run
//! with the same concurrency for the same time; requests per second, p50/p99 latency and peak
//! RSS (VmHWM) of the process doing the work are printed.
//!
//! `cargo bench --bench crm` (`CRM_BENCH_SECONDS`, `CRM_BENCH_CONCURRENCY` to change the run).

mod support;

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    sync::Arc,
};

use serde_json::{Value, json};
use support::{Process, env_or, load, peak_rss_mib, wait_for_file};

const QUERY: &str =
    "{ contacts(first: 100) { nodes { company { name } deals(first: 5) { nodes { name } } } } }";

/// The data of the query, fetched from the sandbox directly.
struct Floor {
    client: reqwest::Client,
    sandbox: String,
    hubspot: String,
    salesforce: String,
}

impl Floor {
    async fn json(&self, request: reqwest::RequestBuilder, token: &str) -> Value {
        let response = request.bearer_auth(token).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.unwrap()
    }

    async fn hubspot(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/hubspot{path}", self.sandbox);
        self.json(self.client.request(method, url).json(&body), &self.hubspot)
            .await
    }

    async fn soql(&self, q: String) -> Vec<Value> {
        let url = format!("{}/services/data/v58.0/query", self.sandbox);
        let page = self
            .json(self.client.get(url).query(&[("q", q)]), &self.salesforce)
            .await;
        page["records"].as_array().cloned().unwrap_or_default()
    }

    async fn hubspot_related(&self, ids: &[String], to: &str) -> Value {
        let inputs: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let links = self
            .hubspot(
                reqwest::Method::POST,
                &format!("/crm/v4/associations/contacts/{to}/batch/read"),
                json!({ "inputs": inputs }),
            )
            .await;
        let targets: BTreeSet<String> = links["results"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["to"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t["toObjectId"].as_u64().map(|n| n.to_string()))
            .collect();
        let inputs: Vec<Value> = targets.iter().map(|id| json!({ "id": id })).collect();
        let property = if to == "companies" {
            "name"
        } else {
            "dealname"
        };
        self.hubspot(
            reqwest::Method::POST,
            &format!("/crm/v3/objects/{to}/batch/read"),
            json!({ "properties": [property], "inputs": inputs }),
        )
        .await
    }

    fn quoted(ids: &BTreeSet<String>) -> String {
        ids.iter()
            .map(|id| format!("'{id}'"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn salesforce_related(&self, contacts: &[Value]) {
        let ids: BTreeSet<String> = contacts
            .iter()
            .filter_map(|c| c["Id"].as_str().map(str::to_owned))
            .collect();
        let accounts: BTreeSet<String> = contacts
            .iter()
            .filter_map(|c| c["AccountId"].as_str().map(str::to_owned))
            .collect();
        let companies = self.soql(format!(
            "SELECT Id, Name FROM Account WHERE Id IN ({})",
            Self::quoted(&accounts)
        ));
        let deals = async {
            let roles = self
                .soql(format!(
                    "SELECT ContactId, OpportunityId FROM OpportunityContactRole WHERE ContactId IN ({})",
                    Self::quoted(&ids)
                ))
                .await;
            let opportunities: BTreeSet<String> = roles
                .iter()
                .filter_map(|r| r["OpportunityId"].as_str().map(str::to_owned))
                .collect();
            if !opportunities.is_empty() {
                self.soql(format!(
                    "SELECT Id, Name FROM Opportunity WHERE Id IN ({})",
                    Self::quoted(&opportunities)
                ))
                .await;
            }
        };
        tokio::join!(companies, deals);
    }

    /// One request's worth: the newest 100 of both CRMs, merged, with companies and deals.
    async fn fetch(&self) {
        let (hubspot, salesforce) = tokio::join!(
            self.hubspot(
                reqwest::Method::POST,
                "/crm/v3/objects/contacts/search",
                json!({ "sorts": [{ "propertyName": "createdate", "direction": "DESCENDING" }],
                        "properties": ["firstname", "lastname", "createdate"], "limit": 100 }),
            ),
            self.soql("SELECT Id, FirstName, LastName, AccountId, CreatedDate FROM Contact ORDER BY CreatedDate DESC, Id DESC LIMIT 100".into()),
        );
        let mut merged: Vec<(String, bool, Value)> = hubspot["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["createdAt"].as_str().unwrap_or_default().to_owned(),
                    true,
                    c.clone(),
                )
            })
            .chain(salesforce.into_iter().map(|c| {
                let at = c["CreatedDate"]
                    .as_str()
                    .unwrap_or_default()
                    .replace("+0000", "Z");
                (at, false, c)
            }))
            .collect();
        merged.sort_by(|a, b| b.0.cmp(&a.0));
        merged.truncate(100);
        let hubspot_ids: Vec<String> = merged
            .iter()
            .filter(|m| m.1)
            .filter_map(|m| m.2["id"].as_str().map(str::to_owned))
            .collect();
        let salesforce_rows: Vec<Value> = merged
            .iter()
            .filter(|m| !m.1)
            .map(|m| m.2.clone())
            .collect();
        tokio::join!(
            async {
                if !hubspot_ids.is_empty() {
                    tokio::join!(
                        self.hubspot_related(&hubspot_ids, "companies"),
                        self.hubspot_related(&hubspot_ids, "deals")
                    );
                }
            },
            async {
                if !salesforce_rows.is_empty() {
                    self.salesforce_related(&salesforce_rows).await;
                }
            }
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds = env_or("CRM_BENCH_SECONDS", 15);
    let concurrency = env_or("CRM_BENCH_CONCURRENCY", 8);
    let binary = env!("CARGO_BIN_EXE_nexus");

    let (_sandbox, sandbox_url) = support::sandbox(binary);

    let dir = tempfile::TempDir::new().unwrap();
    let mut gateway = Process(
        Command::new(binary)
            .args([
                "demo",
                "--port",
                "0",
                "--sandbox-url",
                &sandbox_url,
                "--data-dir",
            ])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            // The floor is measured without limits; so is the gateway.
            .env("NEXUS_PROVIDERS__HUBSPOT__RATE_LIMITS", "false")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let origin = wait_for_file(&dir.path().join("gateway-url"), &mut gateway);
    let key = std::fs::read_to_string(dir.path().join("demo-api-key"))
        .unwrap()
        .trim()
        .to_owned();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
        for provider in ["hubspot", "salesforce"] {
            let answer = client
                .post(format!("{sandbox_url}/_sandbox/limits"))
                .json(&json!({ "provider": provider, "enforce": false }))
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success());
        }
        let token = |provider: &'static str| {
            let client = client.clone();
            let sandbox_url = sandbox_url.clone();
            async move {
                let tokens: Value = client
                    .post(format!("{sandbox_url}/_sandbox/tokens"))
                    .json(&json!({ "provider": provider }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                tokens["access_token"].as_str().unwrap().to_owned()
            }
        };
        let floor = Arc::new(Floor {
            client: client.clone(),
            sandbox: sandbox_url.clone(),
            hubspot: token("hubspot").await,
            salesforce: token("salesforce").await,
        });
        println!("contacts(first: 100) with company and deals(first: 5); {concurrency} concurrent, {seconds} s each");
        let mut run = {
            let floor = floor.clone();
            load(concurrency, seconds, move || {
                let floor = floor.clone();
                async move { floor.fetch().await }
            })
            .await
        };
        let floor_rps = run.report("floor", peak_rss_mib("self"));

        let mut run = {
            let client = client.clone();
            load(concurrency, seconds, move || {
                let request = client
                    .post(format!("{origin}/graphql"))
                    .bearer_auth(&key)
                    .json(&json!({ "query": QUERY }));
                async move {
                    let response = request.send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    let body: Value = response.json().await.unwrap();
                    assert!(body["errors"].is_null(), "{body}");
                    assert_eq!(body["data"]["contacts"]["nodes"].as_array().map(Vec::len), Some(100));
                }
            })
            .await
        };
        let gateway_rps = run.report("gateway", peak_rss_mib(&gateway.0.id().to_string()));
        println!("gateway at {:.0}% of the floor's requests per second", 100.0 * gateway_rps / floor_rps);
    });
    drop(gateway);
}
