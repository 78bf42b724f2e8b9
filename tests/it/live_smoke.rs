//! The opt-in live smoke suite: the gateway's read and write paths against the real provider
//! APIs, for whoever holds accounts, so that fidelity is checked rather than assumed
//! (docs/providers.md, "Live smoke suite").
//!
//! Each provider's test runs only when its `NEXUS_LIVE_<PROVIDER>_*` variables are set, and is
//! skipped with a message otherwise — even under `NEXUS_TEST_STRICT=1`: these accounts are
//! opt-in by design and CI has none. A test that runs spawns a gateway with the catalog's real
//! base URLs (no sandbox), stores the supplied token in the vault as a finished connect flow
//! would (no refresh token, no expiry: the token is used as given), reads through GraphQL with
//! `maxAge: 0` (live, no copy), writes one record where that is safe and deletes it again
//! through the passthrough.

use nexus::{
    providers::{Provider, salesforce::API_VERSION},
    vault::TokenSet,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// One provider account a live run may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Account {
    Hubspot,
    Salesforce,
    Google,
    Slack,
    Graph,
}

impl Account {
    /// The environment variables' common prefix.
    fn prefix(self) -> &'static str {
        match self {
            Account::Hubspot => "NEXUS_LIVE_HUBSPOT",
            Account::Salesforce => "NEXUS_LIVE_SALESFORCE",
            Account::Google => "NEXUS_LIVE_GOOGLE",
            Account::Slack => "NEXUS_LIVE_SLACK",
            Account::Graph => "NEXUS_LIVE_GRAPH",
        }
    }

    /// The variables a run needs, all of them (suffixes after the prefix).
    fn required(self) -> &'static [&'static str] {
        match self {
            Account::Salesforce => &["INSTANCE_URL", "TOKEN"],
            _ => &["TOKEN"],
        }
    }

    /// The variable that enables the write, where one is needed: the address mail is sent to
    /// (the account's own), the channel a message is posted in.
    fn write_target(self) -> Option<&'static str> {
        match self {
            Account::Google | Account::Graph => Some("SELF_EMAIL"),
            Account::Slack => Some("CHANNEL"),
            Account::Hubspot | Account::Salesforce => None,
        }
    }

    /// The gateway's connections the token is stored for.
    fn providers(self) -> &'static [Provider] {
        match self {
            Account::Hubspot => &[Provider::Hubspot],
            Account::Salesforce => &[Provider::Salesforce],
            Account::Google => &[Provider::Gmail, Provider::GoogleCalendar],
            Account::Slack => &[Provider::Slack],
            Account::Graph => &[Provider::Outlook, Provider::Teams],
        }
    }
}

/// What a live run of one account was given.
#[derive(Debug, PartialEq, Eq)]
struct Live {
    token: String,
    instance_url: Option<String>,
    write_target: Option<String>,
}

/// Reads an account's variables through `env`: `Ok(None)` when none of the required ones is
/// set (the run is skipped), `Err` naming the missing ones when only some are (a half-given
/// account is a mistake worth stopping for), the run's inputs otherwise.
fn read(account: Account, env: impl Fn(&str) -> Option<String>) -> Result<Option<Live>, String> {
    let var = |suffix: &str| format!("{}_{suffix}", account.prefix());
    let get = |suffix: &str| env(&var(suffix)).filter(|v| !v.trim().is_empty());
    let missing: Vec<String> = account
        .required()
        .iter()
        .filter(|s| get(s).is_none())
        .map(|s| var(s))
        .collect();
    if missing.len() == account.required().len() {
        return Ok(None);
    }
    if !missing.is_empty() {
        return Err(format!(
            "{} is set but {} is not",
            account.prefix(),
            missing.join(", ")
        ));
    }
    Ok(Some(Live {
        token: get("TOKEN").unwrap_or_default(),
        instance_url: get("INSTANCE_URL").map(|u| u.trim_end_matches('/').to_owned()),
        write_target: account.write_target().and_then(get),
    }))
}

/// The account's inputs from the process environment, or `None` after saying why the run is
/// skipped. Never consults `NEXUS_TEST_STRICT`: live runs are opt-in.
fn live(account: Account) -> Option<Live> {
    match read(account, |name| std::env::var(name).ok()) {
        Ok(Some(live)) => Some(live),
        Ok(None) => {
            eprintln!(
                "skipped: live smoke for {account:?} runs only with {} (opt-in, see docs/providers.md)",
                account
                    .required()
                    .iter()
                    .map(|s| format!("{}_{s}", account.prefix()))
                    .collect::<Vec<_>>()
                    .join(" and ")
            );
            None
        }
        Err(message) => panic!("live smoke: {message}"),
    }
}

/// A gateway on the real provider URLs with the account's token stored for its connections.
async fn gateway(account: Account, live: &Live) -> TestApp {
    let app = spawn_app().await;
    let (user, project) = app.tenant("acme", "ada@acme.test").await;
    let metadata = match &live.instance_url {
        Some(url) => json!({ "instance_url": url }),
        None => json!({}),
    };
    let vault = app.credentials().await;
    for provider in account.providers() {
        let tokens = TokenSet {
            access_token: live.token.clone().into(),
            refresh_token: None,
            expires_at: None,
            scopes: Vec::new(),
            metadata: metadata.clone(),
        };
        vault
            .upsert(user, project, *provider, &tokens)
            .await
            .expect("token stored");
    }
    app
}

/// A GraphQL request that must succeed without errors; its `data`.
async fn ok(app: &TestApp, query: &str, variables: Value) -> Value {
    let (status, body) = app.graphql(query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

/// A raw call through the gateway's passthrough (the cleanup path); its HTTP status.
async fn passthrough(
    app: &TestApp,
    provider: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> i64 {
    let data = ok(
        app,
        "mutation($provider: Provider!, $method: String!, $path: String!, $body: JSON) {
           passthrough(provider: $provider, method: $method, path: $path, body: $body) { status }
         }",
        json!({ "provider": provider, "method": method, "path": path, "body": body }),
    )
    .await;
    data["passthrough"]["status"].as_i64().unwrap_or_default()
}

/// Reads the first few of a list live; how many came back.
async fn first_few(app: &TestApp, field: &str, provider: &str, filter: Option<Value>) -> usize {
    let query = format!(
        "query($providers: [Provider!], $filter: {}Filter) {{
           {field}(first: 3, providers: $providers, filter: $filter, maxAge: 0) {{ edges {{ node {{ id remoteId }} }} }}
         }}",
        filter_type(field)
    );
    let data = ok(
        app,
        &query,
        json!({ "providers": [provider], "filter": filter }),
    )
    .await;
    data[field]["edges"].as_array().map_or(0, Vec::len)
}

fn filter_type(field: &str) -> &'static str {
    match field {
        "contacts" => "Contact",
        "emails" => "Email",
        "events" => "Event",
        "channels" => "Channel",
        _ => "Message",
    }
}

/// A unique marker for what a run writes, so a leftover is recognisable.
fn marker() -> String {
    format!("nexus-live-smoke-{}", uuid::Uuid::new_v4().simple())
}

/// CRM: contacts read live; a contact created and deleted again.
async fn crm(account: Account, provider: &str, delete_path: impl Fn(&str) -> String) {
    let Some(live) = live(account) else { return };
    let app = gateway(account, &live).await;
    first_few(&app, "contacts", provider, None).await;
    let mark = marker();
    let data = ok(
        &app,
        "mutation($input: CreateContactInput!) { createContact(input: $input) { contact { remoteId email } } }",
        json!({ "input": {
            "provider": provider,
            "firstName": "Nexus",
            "lastName": "Live Smoke",
            "email": format!("{mark}@example.com"),
        }}),
    )
    .await;
    let id = data["createContact"]["contact"]["remoteId"]
        .as_str()
        .expect("created")
        .to_owned();
    let status = passthrough(&app, provider, "DELETE", &delete_path(&id), None).await;
    assert!(
        (200..300).contains(&status),
        "contact {id} ({mark}) not deleted: {status}"
    );
}

#[tokio::test]
async fn live_hubspot_reads_contacts_and_creates_then_deletes_one() {
    crm(Account::Hubspot, "HUBSPOT", |id| {
        format!("/crm/v3/objects/contacts/{id}")
    })
    .await;
}

#[tokio::test]
async fn live_salesforce_reads_contacts_and_creates_then_deletes_one() {
    crm(Account::Salesforce, "SALESFORCE", |id| {
        format!("/services/data/{API_VERSION}/sobjects/Contact/{id}")
    })
    .await;
}

/// Mail and calendar: emails and events read live; with `*_SELF_EMAIL`, a mail sent to the
/// account itself and then removed (`trash_path` of the sent message's id).
async fn mail_and_calendar(
    account: Account,
    mail: &str,
    calendar: &str,
    remove: (&str, fn(&str) -> String),
) {
    let Some(live) = live(account) else { return };
    let app = gateway(account, &live).await;
    first_few(&app, "emails", mail, None).await;
    first_few(&app, "events", calendar, None).await;
    let Some(me) = &live.write_target else {
        eprintln!(
            "live smoke for {account:?}: no {}_SELF_EMAIL, so nothing is sent",
            account.prefix()
        );
        return;
    };
    let mark = marker();
    let data = ok(
        &app,
        "mutation($input: SendEmailInput!) { sendEmail(input: $input) { email { remoteId } } }",
        json!({ "input": { "provider": mail, "to": [me], "subject": mark, "text": "Sent by the Nexus live smoke suite to its own account." } }),
    )
    .await;
    let id = data["sendEmail"]["email"]["remoteId"]
        .as_str()
        .expect("sent")
        .to_owned();
    let (method, path) = remove;
    let status = passthrough(&app, mail, method, &path(&id), None).await;
    assert!(
        (200..300).contains(&status),
        "sent mail {id} ({mark}) not removed: {status}"
    );
}

#[tokio::test]
async fn live_google_reads_mail_and_events_and_sends_to_itself() {
    mail_and_calendar(
        Account::Google,
        "GMAIL",
        "GOOGLE_CALENDAR",
        ("POST", |id| {
            format!("/gmail/v1/users/me/messages/{id}/trash")
        }),
    )
    .await;
}

#[tokio::test]
async fn live_graph_reads_mail_events_and_teams_and_sends_to_itself() {
    if let Some(live) = live(Account::Graph) {
        let app = gateway(Account::Graph, &live).await;
        first_few(&app, "channels", "TEAMS", None).await;
    }
    mail_and_calendar(
        Account::Graph,
        "OUTLOOK",
        "OUTLOOK",
        ("DELETE", |id| format!("/v1.0/me/messages/{id}")),
    )
    .await;
}

#[tokio::test]
async fn live_slack_reads_channels_and_messages_and_posts_then_deletes() {
    let Some(live) = live(Account::Slack) else {
        return;
    };
    let app = gateway(Account::Slack, &live).await;
    first_few(&app, "channels", "SLACK", None).await;
    let Some(channel) = &live.write_target else {
        eprintln!("live smoke for Slack: no NEXUS_LIVE_SLACK_CHANNEL, so nothing is posted");
        return;
    };
    first_few(
        &app,
        "messages",
        "SLACK",
        Some(json!({ "channel": channel })),
    )
    .await;
    let mark = marker();
    let data = ok(
        &app,
        "mutation($input: PostMessageInput!) { postMessage(input: $input) { message { remoteId } } }",
        json!({ "input": { "provider": "SLACK", "channelId": channel, "text": mark } }),
    )
    .await;
    let ts = data["postMessage"]["message"]["remoteId"]
        .as_str()
        .expect("posted")
        .to_owned();
    let status = passthrough(
        &app,
        "SLACK",
        "POST",
        "/api/chat.delete",
        Some(json!({ "channel": channel, "ts": ts })),
    )
    .await;
    assert_eq!(status, 200, "message {ts} ({mark}) not deleted");
}

/// The skip logic itself, on a made-up environment: nothing set skips, a half-given account
/// is refused naming what is missing, a whole one runs with what it was given.
#[test]
fn live_runs_are_skipped_without_credentials_and_refused_half_given() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    for account in [
        Account::Hubspot,
        Account::Salesforce,
        Account::Google,
        Account::Slack,
        Account::Graph,
    ] {
        assert_eq!(read(account, env(&[])), Ok(None), "{account:?}");
        // An empty value counts as unset.
        assert_eq!(
            read(
                account,
                env(&[
                    ("NEXUS_LIVE_HUBSPOT_TOKEN", " "),
                    ("NEXUS_LIVE_SALESFORCE_TOKEN", "")
                ])
            ),
            Ok(None),
            "{account:?}"
        );
    }
    // Strict mode does not turn a skip into a failure.
    assert_eq!(
        read(Account::Slack, env(&[("NEXUS_TEST_STRICT", "1")])),
        Ok(None)
    );
    assert_eq!(
        read(
            Account::Salesforce,
            env(&[("NEXUS_LIVE_SALESFORCE_TOKEN", "00Dx!abc")])
        ),
        Err("NEXUS_LIVE_SALESFORCE is set but NEXUS_LIVE_SALESFORCE_INSTANCE_URL is not".into())
    );
    assert_eq!(
        read(
            Account::Salesforce,
            env(&[
                ("NEXUS_LIVE_SALESFORCE_TOKEN", "00Dx!abc"),
                (
                    "NEXUS_LIVE_SALESFORCE_INSTANCE_URL",
                    "https://acme.my.salesforce.com/"
                ),
            ])
        ),
        Ok(Some(Live {
            token: "00Dx!abc".into(),
            instance_url: Some("https://acme.my.salesforce.com".into()),
            write_target: None,
        }))
    );
    assert_eq!(
        read(
            Account::Slack,
            env(&[
                ("NEXUS_LIVE_SLACK_TOKEN", "xoxb-1"),
                ("NEXUS_LIVE_SLACK_CHANNEL", "C123")
            ])
        ),
        Ok(Some(Live {
            token: "xoxb-1".into(),
            instance_url: None,
            write_target: Some("C123".into()),
        }))
    );
    assert_eq!(
        read(Account::Graph, env(&[("NEXUS_LIVE_GRAPH_TOKEN", "eyJ0")])),
        Ok(Some(Live {
            token: "eyJ0".into(),
            instance_url: None,
            write_target: None,
        }))
    );
    assert_eq!(
        Account::Google.providers(),
        [Provider::Gmail, Provider::GoogleCalendar]
    );
    assert_eq!(
        Account::Graph.providers(),
        [Provider::Outlook, Provider::Teams]
    );
}
