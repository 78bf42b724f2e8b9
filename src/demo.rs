//! `nexus demo`: a ready-to-try gateway. It makes the data folder (SQLite, `encryption-key`,
//! `demo-api-key`, `stripe-webhook-secret`), starts the provider sandbox and points the gateway at
//! it (the sandbox's Stripe sender delivering to `/webhooks/stripe`, its Gmail Pub/Sub pushing
//! to `/webhooks/gmail`, Calendar channels opened on `/webhooks/google_calendar`), serves the gateway,
//! connects every simulated provider for the demo project through the real connect flow (over
//! HTTP, as a browser would), and writes `gateway-url` last: its presence means ready.
//!
//! Other commands run on a folder the demo made (`nexus sync`) take the demo's setup from it
//! ([`adopt`]): its encryption key and its sandbox (`sandbox-url`), so they reach what the
//! demo's connections were made with, never the real providers.

use std::{fs, io::Write, path::Path};

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::{
    auth::{KeySpec, Scope, Scopes, Tenants, create_api_key_with, hash_key},
    config::Settings,
    providers::{Cataloged, Provider},
    startup::{Application, open_database},
    vault::Key,
};

const DEMO_PROJECT: &str = "demo";
const DEMO_USER: &str = "demo@nexus.local";

type DemoResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// How the demo runs.
pub struct DemoOptions {
    pub port: u16,
    pub sandbox_port: u16,
    /// A sandbox already running elsewhere (its origin) instead of one in this process.
    pub sandbox_url: Option<String>,
    /// Leave connecting to the playground's user.
    pub no_connect: bool,
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(settings: &mut Settings, data_dir: &Path, options: DemoOptions) -> DemoResult {
    fs::create_dir_all(data_dir)?;
    let ready_file = data_dir.join("gateway-url");
    if ready_file.exists() {
        fs::remove_file(&ready_file)?;
    }
    settings.server.port = options.port;
    settings.graphql.introspection = true;
    demo_encryption_key(settings, data_dir)?;
    let db = open_database(settings, data_dir).await?;
    let tenants = Tenants::new(db.clone());
    let key = demo_key(&tenants, data_dir).await?;
    settings.playground.api_key = Some(key.clone().into());

    let sandbox = match options.sandbox_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => nexus_sandbox::start(([127, 0, 0, 1], options.sandbox_port).into())
            .await?
            .origin(),
    };
    write_file(&data_dir.join("sandbox-url"), &sandbox, false)?;
    point_at_sandbox(settings, &sandbox);
    let stripe_secret = stripe_webhook_secret(settings, data_dir)?;
    settings
        .changes
        .default_project
        .get_or_insert_with(|| DEMO_PROJECT.to_owned());
    let app = Application::build_with(settings, db).await?;
    let origin = format!("http://{}", app.local_addr());
    register_stripe_endpoint(&sandbox, &origin, &stripe_secret).await?;
    register_gmail_push(&sandbox, &origin).await?;
    let server = tokio::spawn(app.run_until_stopped(crate::cli::shutdown_signal()));
    if !options.no_connect {
        for provider in Provider::ALL
            .into_iter()
            .filter(|p| p.entry().sandbox.is_some())
        {
            connect(&origin, &key, provider).await?;
        }
    }
    println!("Nexus Gateway demo is running.");
    println!("  playground: {origin}/playground/");
    println!("  endpoint:   {origin}/graphql");
    println!("  API key:    {key}");
    println!("  sandbox:    {sandbox}");
    println!("  data:       {}", data_dir.display());
    println!("Press Ctrl-C to stop.");
    write_file(&ready_file, &origin, false)?;
    let result = server.await;
    let _ = fs::remove_file(&ready_file);
    result??;
    Ok(())
}

/// What a command run on a data folder the demo made takes from it: the sandbox the demo
/// recorded in `sandbox-url` (every simulated provider pointed at it, where config has not set
/// otherwise) and the demo's `encryption-key` (when no key is configured). The sandbox's origin
/// when the folder is the demo's; `None`, and the settings untouched, otherwise.
pub fn adopt(settings: &mut Settings, data_dir: &Path) -> Option<String> {
    let sandbox = fs::read_to_string(data_dir.join("sandbox-url")).ok()?;
    let sandbox = sandbox.trim().trim_end_matches('/').to_owned();
    let vault = &mut settings.vault;
    let key_file = data_dir.join("encryption-key");
    if vault.key.is_none()
        && vault.key_file.is_none()
        && vault.aws_secret_id.is_none()
        && key_file.exists()
    {
        vault.key_file = Some(key_file);
    }
    point_at_sandbox(settings, &sandbox);
    Some(sandbox)
}

/// Points every provider the sandbox simulates at it, where config has not set otherwise: its
/// URLs from the catalog's `[x.sandbox]` paths, and the sandbox's app as the OAuth client. Other
/// settings given for a provider (a timeout, its rate limits) stay.
fn point_at_sandbox(settings: &mut Settings, origin: &str) {
    for provider in Provider::ALL {
        let Some(paths) = &provider.entry().sandbox else {
            continue;
        };
        let app = nexus_sandbox::App::for_provider(provider.slug());
        let given = settings
            .providers
            .entry(provider.slug().to_owned())
            .or_default();
        let url = |path: &str| Some(format!("{origin}{path}"));
        given.client_id.get_or_insert(app.client_id);
        given
            .client_secret
            .get_or_insert_with(|| app.client_secret.into());
        given.authorize_url = given
            .authorize_url
            .take()
            .or_else(|| url(&paths.authorize_path));
        given.token_url = given.token_url.take().or_else(|| url(&paths.token_path));
        given.base_url = given.base_url.take().or_else(|| url(&paths.base_path));
        given.revoke_url = given
            .revoke_url
            .take()
            .or_else(|| paths.revoke_path.as_deref().and_then(url));
        match provider {
            Provider::Gmail => {
                given
                    .pubsub_topic
                    .get_or_insert_with(|| DEMO_TOPIC.to_owned());
                given.certs_url = given
                    .certs_url
                    .take()
                    .or_else(|| url("/google/oauth2/v3/certs"));
            }
            Provider::GoogleCalendar => {
                given.push.get_or_insert(true);
            }
            _ => {}
        }
    }
}

/// The sandbox Pub/Sub topic the demo's Gmail watches publish to.
const DEMO_TOPIC: &str = "projects/nexus-demo/topics/gmail";

/// Makes this gateway's Gmail endpoint the push subscription of the sandbox's Pub/Sub topic.
async fn register_gmail_push(sandbox: &str, origin: &str) -> DemoResult {
    let response = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/webhooks"))
        .json(&json!({
            "provider": Provider::Gmail.slug(),
            "url": format!("{origin}/webhooks/gmail"),
        }))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!(
            "the sandbox refused the Gmail push endpoint: {}",
            response.status()
        )
        .into());
    }
    Ok(())
}

/// Without a configured key, the demo uses `<data-dir>/encryption-key`, generated on first run.
fn demo_encryption_key(settings: &mut Settings, data_dir: &Path) -> DemoResult {
    let vault = &mut settings.vault;
    if vault.key.is_some() || vault.key_file.is_some() || vault.aws_secret_id.is_some() {
        return Ok(());
    }
    let file = data_dir.join("encryption-key");
    if !file.exists() {
        write_file(&file, Key::generate_hex().expose_secret(), true)?;
        eprintln!(
            "generated a token encryption key in {} (mode 0600)",
            file.display()
        );
    }
    vault.key_file = Some(file);
    Ok(())
}

/// The Stripe endpoint secret, as `stripe listen` prints one: the configured one, else the one in
/// `stripe-webhook-secret`, else a new `whsec_…` written there.
fn stripe_webhook_secret(settings: &mut Settings, data_dir: &Path) -> DemoResult<String> {
    let stripe = settings
        .providers
        .entry(Provider::Stripe.slug().to_owned())
        .or_default();
    if let Some(secret) = &stripe.webhook_secret {
        return Ok(secret.expose_secret().to_owned());
    }
    let file = data_dir.join("stripe-webhook-secret");
    let secret = match fs::read_to_string(&file) {
        Ok(existing) if existing.trim().starts_with("whsec_") => existing.trim().to_owned(),
        _ => {
            let mut bytes = [0u8; 24];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            let secret = format!("whsec_{}", hex::encode(bytes));
            write_file(&file, &secret, true)?;
            secret
        }
    };
    stripe.webhook_secret = Some(secret.clone().into());
    Ok(secret)
}

/// Tells the sandbox's Stripe sender to deliver to this gateway, signed with `secret`.
async fn register_stripe_endpoint(sandbox: &str, origin: &str, secret: &str) -> DemoResult {
    let response = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/webhooks"))
        .json(&json!({
            "provider": Provider::Stripe.slug(),
            "url": format!("{origin}/webhooks/stripe"),
            "secret": secret,
        }))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!(
            "the sandbox refused the Stripe endpoint: {}",
            response.status()
        )
        .into());
    }
    Ok(())
}

/// The demo's key: the one in `demo-api-key` while it is still live with the demo's scopes,
/// else a new one. It may read, write and follow the whole project's change stream.
async fn demo_key(tenants: &Tenants, data_dir: &Path) -> DemoResult<String> {
    let scopes = Scopes::DEFAULT.with(Scope::ChangesProject);
    let file = data_dir.join("demo-api-key");
    if let Ok(existing) = fs::read_to_string(&file) {
        let existing = existing.trim().to_owned();
        let live = tenants.active_key(&hash_key(&existing)).await?;
        if live.is_some_and(|k| Scopes::parse(&k.scopes) == Ok(scopes)) {
            return Ok(existing);
        }
    }
    let spec = KeySpec {
        label: Some("demo".into()),
        scopes,
        ..KeySpec::default()
    };
    let key = create_api_key_with(tenants, DEMO_PROJECT, DEMO_USER, &spec).await?;
    write_file(&file, &key, true)?;
    Ok(key)
}

/// Writes a one-line file atomically (temp file, then rename); `private` makes it mode 0600.
fn write_file(path: &Path, content: &str, private: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    writeln!(file, "{content}")?;
    file.sync_all()?;
    fs::rename(tmp, path)
}

/// Connects a provider for the demo project through the public flow: `connectProvider`, the
/// provider's consent page (approved), and the redirect back to the gateway's callback.
async fn connect(origin: &str, key: &str, provider: Provider) -> DemoResult {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let enum_value = provider.slug().to_ascii_uppercase();
    let answer: Value = http
        .post(format!("{origin}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": format!("mutation {{ connectProvider(provider: {enum_value}) {{ url }} }}") }))
        .send()
        .await?
        .json()
        .await?;
    let url = answer["data"]["connectProvider"]["url"]
        .as_str()
        .ok_or_else(|| format!("connecting {provider}: {}", answer["errors"]))?;
    let authorize = url::Url::parse(url)?;
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("decision".into(), "approve".into()));
    let mut base = authorize.clone();
    base.set_query(None);
    let consent = http.post(base.as_str()).form(&form).send().await?;
    let back = consent
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| format!("connecting {provider}: the consent page did not redirect"))?
        .to_owned();
    let done = http.get(&back).send().await?;
    if !done.status().is_success() {
        return Err(format!(
            "connecting {provider}: the callback answered {}",
            done.status()
        )
        .into());
    }
    eprintln!("connected {} (sandbox)", provider.entry().name);
    Ok(())
}
