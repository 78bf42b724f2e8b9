//! The read model's copy of the CRM records (`nexus::changes::sync::SyncedCopy`), against the
//! sandbox over HTTP, on SQLite and (with `NEXUS_TEST_POSTGRES_URL`) PostgreSQL: a sync fills it
//! (records and relations) and marks each type complete; it then answers lists, records and
//! relations exactly as the provider's adapter does (same ids, same order, same positions, the
//! filters it takes); an edit reaches it at the next pass and a deletion at the reconciliation;
//! a write through the gateway is readable at once; two users of one project keep two copies and
//! neither reads the other's; `disconnectProvider` leaves no row of the connection in any copy
//! table; the first pass runs on connect and at startup with polling off.

use std::{collections::BTreeSet, time::Duration};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use nexus::{
    changes::sync::{SyncedCopy, Syncer},
    providers::{
        Cataloged, Provider,
        crm::{CrmData, CrmFilter, CrmObject, DealStatus, ListRequest, Position, Record},
    },
    store::entities::{copy_links, copy_records, copy_status, copy_terms},
    upstream::Target,
};
use nexus_core::{ReadModel, Synced};

use crate::{
    connect::{callback, connect_link, connect_link_as, consent, pointed_at_sandbox_with},
    helpers::{TestApp, admin, eventually},
};

const HOUR: Duration = Duration::from_secs(3600);

/// An app on `database` (SQLite when `None`) connected to HubSpot and Salesforce, with the
/// providers' limits off (these tests make many calls on purpose).
async fn connected(database: Option<secrecy::SecretString>) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.database.url = database;
    })
    .await;
    for provider in ["hubspot", "salesforce"] {
        admin(
            &sandbox,
            "/limits",
            json!({ "provider": provider, "enforce": false }),
        )
        .await;
    }
    for provider in ["HUBSPOT", "SALESFORCE"] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

async fn syncer(app: &TestApp) -> Syncer {
    nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap()
}

/// The connection of `provider` for the user `user` (the app's own when `None`).
async fn target(app: &TestApp, provider: Provider, user: Option<&str>) -> Target {
    let (user_id, _) = app.tenant("acme", user.unwrap_or("ada@acme.test")).await;
    syncer(app)
        .await
        .targets(Some(provider), None)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.tenant.user_id == user_id)
        .expect("the connection")
}

/// Every CRM type `target` syncs, passed over once.
async fn pass_all(syncer: &Syncer, target: Target) {
    for report in syncer.connection(target, &|_, _| {}).await {
        report.expect("a pass");
    }
}

fn synced<T>(answer: Synced<T>) -> T {
    match answer {
        Synced::Synced { value, .. } => value,
        Synced::NotSynced => panic!("the copy did not answer"),
    }
}

fn request(object: CrmObject, filter: CrmFilter, after: Option<Position>) -> ListRequest {
    ListRequest {
        object,
        filter,
        after,
        limit: 37,
    }
}

/// Every page of a list, as (remote id, position, raw).
async fn pages<F, Fut>(mut page: F) -> Vec<(String, Position, serde_json::Value)>
where
    F: FnMut(Option<Position>) -> Fut,
    Fut: std::future::Future<Output = nexus::providers::crm::ListPage<CrmData>>,
{
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let got = page(after.clone()).await;
        for record in &got.records {
            all.push((
                record.remote_id.clone(),
                record.position(),
                record.raw.value().clone(),
            ));
        }
        after = got.records.last().map(Record::position);
        if !got.more || after.is_none() {
            return all;
        }
    }
}

/// The filters each type's list is compared under (each one the copy applies).
fn filters(provider: Provider, object: CrmObject, sample: &Record<CrmData>) -> Vec<CrmFilter> {
    let mut out = vec![
        CrmFilter::default(),
        CrmFilter {
            updated_after: Some(sample.updated_at - chrono::Duration::milliseconds(1)),
            ..CrmFilter::default()
        },
    ];
    match &sample.data {
        CrmData::Contact(c) => {
            out.push(CrmFilter {
                email: c.email.as_ref().map(|e| e.to_uppercase()),
                ..CrmFilter::default()
            });
            if provider == Provider::Salesforce
                && let Some(last) = &c.last_name
            {
                let middle: String = last.chars().skip(1).take(3).collect();
                out.push(CrmFilter {
                    name_contains: Some(middle.to_uppercase()),
                    ..CrmFilter::default()
                });
            }
        }
        CrmData::Deal(d) => {
            out.push(CrmFilter {
                stage: d.stage.clone(),
                ..CrmFilter::default()
            });
            for status in [DealStatus::Open, DealStatus::Won, DealStatus::Lost] {
                out.push(CrmFilter {
                    deal_status: Some(status),
                    ..CrmFilter::default()
                });
            }
        }
        CrmData::Company(c) => {
            let domain = match provider {
                Provider::Hubspot => c.domain.clone(),
                _ => c
                    .website
                    .as_ref()
                    .map(|w| w.trim_start_matches("https://").to_owned()),
            };
            out.push(CrmFilter {
                domain,
                ..CrmFilter::default()
            });
        }
        CrmData::Lead(_) => {}
    }
    let _ = object;
    out
}

#[tokio::test]
async fn the_copy_answers_lists_records_and_relations_as_the_provider_does() {
    let _heavy = crate::helpers::heavy().await;
    for (backend, url) in crate::helpers::backends().await {
        eprintln!("on {backend}");
        answers_as_the_provider(url).await;
    }
}

async fn answers_as_the_provider(database: Option<secrecy::SecretString>) {
    let (app, _sandbox) = connected(database).await;
    let syncer = syncer(&app).await;
    let copy = SyncedCopy::new(app.db.clone());
    for provider in [Provider::Hubspot, Provider::Salesforce] {
        let target = target(&app, provider, None).await;
        let adapter = syncer.providers().crm(provider).unwrap();
        let all = request(CrmObject::Contact, CrmFilter::default(), None);
        assert!(
            matches!(copy.list(target, &all, HOUR).await, Synced::NotSynced),
            "nothing answers before the first pass"
        );
        assert!(copy.status(target).await.iter().all(|s| !s.complete));

        let started = chrono::Utc::now();
        pass_all(&syncer, target).await;
        for status in copy.status(target).await {
            let kept = provider.feeds(status.object.capability());
            assert_eq!(status.complete, kept, "{provider:?} {status:?}");
            if kept {
                let as_of = status.as_of.expect("as of the pass");
                assert!(as_of >= started - chrono::Duration::seconds(1), "{as_of}");
            }
        }

        for object in CrmObject::ALL {
            if !provider.feeds(object.capability()) {
                continue;
            }
            let live = pages(async |after| {
                adapter
                    .list(target, &request(object, CrmFilter::default(), after))
                    .await
                    .unwrap()
            })
            .await;
            assert!(live.len() > 5, "{provider:?} {object:?}: {}", live.len());
            let ids: Vec<String> = live.iter().map(|(id, _, _)| id.clone()).collect();
            let fetched = adapter.get_many(target, object, &ids).await.unwrap();
            let sample = &fetched[fetched.len() / 2];
            for filter in filters(provider, object, sample) {
                let live = pages(async |after| {
                    adapter
                        .list(target, &request(object, filter.clone(), after))
                        .await
                        .unwrap()
                })
                .await;
                let copied = pages(async |after| {
                    std::sync::Arc::unwrap_or_clone(synced(
                        copy.list(target, &request(object, filter.clone(), after), HOUR)
                            .await,
                    ))
                })
                .await;
                assert_eq!(copied, live, "{provider:?} {object:?} under {filter:?}");
            }
            // Records by id, as the provider has them.
            let some: Vec<String> = ids.iter().step_by(3).cloned().collect();
            let live = adapter.get_many(target, object, &some).await.unwrap();
            let copied = synced(copy.get_many(target, object, &some, HOUR).await);
            let raw = |records: &[Record<CrmData>]| {
                let mut raw: Vec<(String, String)> = records
                    .iter()
                    .map(|r| (r.remote_id.clone(), r.raw.value().to_string()))
                    .collect();
                raw.sort();
                raw
            };
            assert_eq!(raw(&copied), raw(&live), "{provider:?} {object:?} by id");
        }

        // Relations, as the provider's associations answer them.
        let pairs = [
            (CrmObject::Contact, CrmObject::Deal),
            (CrmObject::Deal, CrmObject::Contact),
            (CrmObject::Company, CrmObject::Contact),
            (CrmObject::Company, CrmObject::Deal),
            (CrmObject::Deal, CrmObject::Company),
            (CrmObject::Contact, CrmObject::Company),
        ];
        let mut related_somewhere = 0;
        for (from, to) in pairs {
            let ids: Vec<String> = pages(async |after| {
                adapter
                    .list(target, &request(from, CrmFilter::default(), after))
                    .await
                    .unwrap()
            })
            .await
            .into_iter()
            .map(|(id, _, _)| id)
            .take(120)
            .collect();
            let live = adapter.associated(target, from, to, &ids).await.unwrap();
            let copied = synced(copy.related(target, from, to, &ids, HOUR).await);
            let sets = |found: &std::collections::HashMap<String, Vec<String>>| {
                found
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.iter().cloned().collect::<BTreeSet<_>>()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            };
            assert_eq!(sets(&copied), sets(&live), "{provider:?} {from:?} → {to:?}");
            related_somewhere += sets(&live).len();
        }
        assert!(related_somewhere > 0, "{provider:?} relates some records");
    }
}

/// A HubSpot contact's first name in `target`'s copy.
async fn first_name(copy: &SyncedCopy, target: Target, id: &str) -> Option<String> {
    let records = synced(
        copy.get_many(target, CrmObject::Contact, &[id.to_owned()], HOUR)
            .await,
    );
    match &records.first()?.data {
        CrmData::Contact(c) => c.first_name.clone(),
        _ => None,
    }
}

#[tokio::test]
async fn edits_deletions_and_writes_reach_the_copy() {
    for (backend, url) in crate::helpers::backends().await {
        eprintln!("on {backend}");
        edits_deletions_and_writes(url).await;
    }
}

async fn edits_deletions_and_writes(database: Option<secrecy::SecretString>) {
    let (app, sandbox) = connected(database).await;
    let syncer = syncer(&app).await;
    let copy = SyncedCopy::new(app.db.clone());
    let target = target(&app, Provider::Hubspot, None).await;
    pass_all(&syncer, target).await;
    let before = first_name(&copy, target, "405").await;

    admin(
        &sandbox,
        "/records",
        json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405", "fields": { "firstname": "Copied" } }),
    )
    .await;
    assert_eq!(
        first_name(&copy, target, "405").await,
        before,
        "the copy keeps the old value until the next pass"
    );
    syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        first_name(&copy, target, "405").await.as_deref(),
        Some("Copied")
    );

    admin(
        &sandbox,
        "/records",
        json!({ "provider": "hubspot", "object": "contacts", "op": "delete", "id": "405" }),
    )
    .await;
    syncer
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert!(
        first_name(&copy, target, "405").await.is_some(),
        "a deletion waits for the reconciliation"
    );
    let reconciled = syncer
        .clone()
        .full(true)
        .pass(target, CrmObject::Contact, &|_| {})
        .await
        .unwrap();
    assert!(reconciled.reconciled);
    assert_eq!(first_name(&copy, target, "405").await, None);
    let links = copy_links::Entity::find()
        .filter(copy_links::Column::FromType.eq("Contact"))
        .filter(copy_links::Column::FromId.eq("405"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(links, 0, "its relations went with it");

    // A record written through the gateway is in the copy at once, with its own time.
    let adapter = syncer.providers().crm(Provider::Hubspot).unwrap();
    let write = nexus::providers::crm::CrmWrite::Contact(nexus::providers::crm::ContactWrite {
        first_name: Some("Written".into()),
        last_name: Some("Through".into()),
        email: Some("written.through@copy.example".into()),
        ..Default::default()
    });
    let created = adapter.create(target, &write).await.unwrap();
    copy.written(target, &created).await;
    let filter = CrmFilter {
        email: Some("Written.Through@copy.example".into()),
        ..CrmFilter::default()
    };
    let Synced::Synced { value, as_of } = copy
        .list(target, &request(CrmObject::Contact, filter, None), HOUR)
        .await
    else {
        panic!("the copy answers");
    };
    assert_eq!(value.records.len(), 1);
    assert_eq!(value.records[0].remote_id, created.remote_id);
    assert!(as_of.of(&created.remote_id) > as_of.pass, "{as_of:?}");
    // The newest contact comes first in the whole list too.
    let first = synced(
        copy.list(
            target,
            &request(CrmObject::Contact, CrmFilter::default(), None),
            HOUR,
        )
        .await,
    );
    assert_eq!(first.records[0].remote_id, created.remote_id);
}

/// Rows of `target`'s connection in every copy table.
async fn rows_of(db: &DatabaseConnection, target: Target) -> [u64; 4] {
    let (user, project, provider) = (
        target.tenant.user_id,
        target.tenant.project_id,
        target.provider.slug(),
    );
    [
        copy_records::Entity::find()
            .filter(copy_records::Column::UserId.eq(user))
            .filter(copy_records::Column::ProjectId.eq(project))
            .filter(copy_records::Column::Provider.eq(provider))
            .count(db)
            .await
            .unwrap(),
        copy_links::Entity::find()
            .filter(copy_links::Column::UserId.eq(user))
            .filter(copy_links::Column::ProjectId.eq(project))
            .filter(copy_links::Column::Provider.eq(provider))
            .count(db)
            .await
            .unwrap(),
        copy_terms::Entity::find()
            .filter(copy_terms::Column::UserId.eq(user))
            .filter(copy_terms::Column::ProjectId.eq(project))
            .filter(copy_terms::Column::Provider.eq(provider))
            .count(db)
            .await
            .unwrap(),
        copy_status::Entity::find()
            .filter(copy_status::Column::UserId.eq(user))
            .filter(copy_status::Column::ProjectId.eq(project))
            .filter(copy_status::Column::Provider.eq(provider))
            .count(db)
            .await
            .unwrap(),
    ]
}

#[tokio::test]
async fn two_users_keep_two_copies_and_disconnecting_erases_only_its_own() {
    for (backend, url) in crate::helpers::backends().await {
        eprintln!("on {backend}");
        two_users(url).await;
    }
}

async fn two_users(database: Option<secrecy::SecretString>) {
    let (app, sandbox) = connected(database).await;
    let bob = app.key_for("acme", "bob@acme.test").await;
    let back = consent(
        &connect_link_as(&app, &bob, "HUBSPOT", None).await,
        "approve",
    )
    .await;
    assert_eq!(callback(&back).await.0, 200, "Bob connects HubSpot");
    let syncer = syncer(&app).await;
    let copy = SyncedCopy::new(app.db.clone());
    let ada = target(&app, Provider::Hubspot, None).await;
    let bobs = target(&app, Provider::Hubspot, Some("bob@acme.test")).await;
    assert_eq!(ada.tenant.project_id, bobs.tenant.project_id);

    pass_all(&syncer, ada).await;
    let salesforce = target(&app, Provider::Salesforce, None).await;
    pass_all(&syncer, salesforce).await;
    let all = request(CrmObject::Contact, CrmFilter::default(), None);
    assert!(
        matches!(copy.list(bobs, &all, HOUR).await, Synced::NotSynced),
        "Bob's copy is not Ada's"
    );
    pass_all(&syncer, bobs).await;
    let before = first_name(&copy, bobs, "405").await;
    admin(
        &sandbox,
        "/records",
        json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405", "fields": { "firstname": "OnlyAda" } }),
    )
    .await;
    syncer.pass(ada, CrmObject::Contact, &|_| {}).await.unwrap();
    assert_eq!(
        first_name(&copy, ada, "405").await.as_deref(),
        Some("OnlyAda")
    );
    assert_eq!(
        first_name(&copy, bobs, "405").await,
        before,
        "Bob reads his own copy"
    );

    let bobs_rows = rows_of(&app.db, bobs).await;
    assert!(bobs_rows.iter().all(|n| *n > 0), "{bobs_rows:?}");
    assert!(rows_of(&app.db, ada).await.iter().all(|n| *n > 0));
    let (_, body) = app
        .graphql(
            "mutation { disconnectProvider(provider: HUBSPOT) }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["disconnectProvider"], true, "{body}");
    assert_eq!(
        rows_of(&app.db, ada).await,
        [0, 0, 0, 0],
        "Ada's copy is erased"
    );
    assert!(copy.status(ada).await.iter().all(|s| !s.complete));
    assert_eq!(rows_of(&app.db, bobs).await, bobs_rows, "Bob's copy stays");
    assert!(matches!(
        copy.list(bobs, &all, HOUR).await,
        Synced::Synced { .. }
    ));
    // Ada's Salesforce copy is another connection: it stays too.
    assert!(rows_of(&app.db, salesforce).await.iter().all(|n| *n > 0));
}

#[tokio::test]
async fn the_first_pass_runs_on_connect_and_at_startup_with_polling_off() {
    let (app, _sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.first_pass = true;
        settings.changes.sync_interval_secs = Some(0);
    })
    .await;
    let back = consent(&connect_link(&app, "HUBSPOT", None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200);
    let target = target(&app, Provider::Hubspot, None).await;
    let copy = SyncedCopy::new(app.db.clone());
    let complete = async |copy: &SyncedCopy| {
        copy.status(target)
            .await
            .iter()
            .filter(|s| s.complete)
            .map(|s| s.object)
            .collect::<Vec<_>>()
    };
    eventually(
        "the first pass on connect",
        Duration::from_secs(60),
        async || (complete(&copy).await.len() == 3).then_some(()),
    )
    .await;
    assert_eq!(
        complete(&copy).await,
        [CrmObject::Contact, CrmObject::Deal, CrmObject::Company]
    );

    // A connection whose copy is gone (as after an upgrade) is passed over at startup.
    nexus::changes::sync::copy::erase(&app.db, target)
        .await
        .unwrap();
    assert!(complete(&copy).await.is_empty());
    let mut settings = app.settings.clone();
    settings.server.port = 0;
    let mut second = crate::helpers::spawn_on(settings, app.db.clone()).await;
    eventually(
        "the first pass at startup",
        Duration::from_secs(60),
        async || (complete(&copy).await.len() == 3).then_some(()),
    )
    .await;
    second.stop().await;
}
