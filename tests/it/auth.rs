//! Callers: API keys and JWTs in, tenants out; everything else refused with 401.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use nexus::config::JwtSettings;
use serde_json::{Value, json};

use crate::helpers::{first_code, json_of, root, spawn_app, spawn_app_with, test_settings};

const VIEWER: &str = "{ viewer { user { id email } project { id name } } }";

#[tokio::test]
async fn missing_wrong_and_malformed_credentials_are_401() {
    let app = spawn_app().await;
    let no_key = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
    let (_, body) = json_of(no_key).await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED");
    assert!(body.get("data").is_none());

    for header in [
        "Bearer nxk_wrong",
        "Basic YTpi",
        "Bearer ",
        "Bearer not.a.jwt",
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("authorization", header)
            .json(&json!({ "query": VIEWER }))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, 401, "{header}");
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{header}");
        assert!(
            !body.to_string().contains("nxk_wrong"),
            "the credential is echoed"
        );
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    let app = spawn_app().await;
    let (status, _) = app.graphql(VIEWER, json!({})).await;
    assert_eq!(status, 200);
    let keys = app.tenants.list_keys().await.unwrap();
    assert!(app.tenants.revoke_key(keys[0].id).await.unwrap());
    let (status, body) = app.graphql(VIEWER, json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(first_code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn another_projects_nodes_do_not_resolve() {
    let app = spawn_app().await;
    let (_, mine) = app.graphql(VIEWER, json!({})).await;
    let project_id = mine["data"]["viewer"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_id = mine["data"]["viewer"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let node =
        "query($id: ID!) { node(id: $id) { id ... on Project { name } ... on User { email } } }";
    let (_, own) = app.graphql(node, json!({ "id": project_id })).await;
    assert_eq!(own["data"]["node"]["name"], "acme");

    let other = app.key_for("globex", "hank@globex.test").await;
    for id in [&project_id, &user_id] {
        let (status, body) = app.graphql_as(&other, node, json!({ "id": id })).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["node"], Value::Null, "{body}");
        assert_eq!(first_code(&body), "NOT_FOUND");
        assert!(!body.to_string().contains("acme"));
    }
    let (_, garbage) = app.graphql(node, json!({ "id": "%%%" })).await;
    assert_eq!(first_code(&garbage), "BAD_USER_INPUT");
}

fn jwt_settings(hs256: Option<&str>, jwks: bool) -> nexus::config::Settings {
    let mut settings = test_settings();
    settings.auth.jwt = Some(JwtSettings {
        hs256_secret: hs256.map(|s| s.to_owned().into()),
        jwks_path: jwks.then(|| root().join("tests/fixtures/jwt/jwks.json")),
        issuer: Some("https://idp.test".into()),
        audience: Some("nexus".into()),
        user_claim: "sub".into(),
        project_claim: "project_id".into(),
        scope_claim: "scope".into(),
    });
    settings
}

async fn ids(app: &crate::helpers::TestApp) -> (String, String) {
    let user = app.tenants.ensure_user("ada@acme.test").await.unwrap();
    let project = app.tenants.ensure_project("acme").await.unwrap();
    (user.id.to_string(), project.id.to_string())
}

fn claims(user: &str, project: &str, exp_offset: i64) -> Value {
    json!({
        "sub": user,
        "project_id": project,
        "iss": "https://idp.test",
        "aud": "nexus",
        "exp": chrono::Utc::now().timestamp() + exp_offset,
    })
}

#[tokio::test]
async fn hs256_jwts_name_the_user_and_project() {
    let app = spawn_app_with(jwt_settings(Some("s3cret-for-tests"), false)).await;
    let (user, project) = ids(&app).await;
    let key = EncodingKey::from_secret(b"s3cret-for-tests");
    let sign = |c: &Value| encode(&Header::new(Algorithm::HS256), c, &key).unwrap();

    let (status, body) = app
        .graphql_as(&sign(&claims(&user, &project, 300)), VIEWER, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["user"]["email"], "ada@acme.test");

    let expired = sign(&claims(&user, &project, -3600));
    let wrong_secret = encode(
        &Header::new(Algorithm::HS256),
        &claims(&user, &project, 300),
        &EncodingKey::from_secret(b"other"),
    )
    .unwrap();
    let unknown_project = sign(&claims(&user, &uuid::Uuid::new_v4().to_string(), 300));
    let mut wrong_audience = claims(&user, &project, 300);
    wrong_audience["aud"] = json!("someone-else");
    for token in [
        expired,
        wrong_secret,
        unknown_project,
        sign(&wrong_audience),
    ] {
        let (status, body) = app.graphql_as(&token, VIEWER, json!({})).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(first_code(&body), "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn rs256_jwts_verify_against_the_jwks() {
    let app = spawn_app_with(jwt_settings(None, true)).await;
    let (user, project) = ids(&app).await;
    let pem = std::fs::read(root().join("tests/fixtures/jwt/rs256-private.pem")).unwrap();
    let key = EncodingKey::from_rsa_pem(&pem).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    let token = encode(&header, &claims(&user, &project, 300), &key).unwrap();
    let (status, body) = app.graphql_as(&token, VIEWER, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["project"]["name"], "acme");

    header.kid = Some("unknown-key".into());
    let token = encode(&header, &claims(&user, &project, 300), &key).unwrap();
    let (status, _) = app.graphql_as(&token, VIEWER, json!({})).await;
    assert_eq!(status, 401);
}

const MUTATE: &str = "mutation { disconnectProvider(provider: HUBSPOT) }";

#[tokio::test]
async fn a_jwts_scope_claim_says_what_it_may_do_and_its_name_is_configurable() {
    let secret = "s3cret-for-tests";
    let key = EncodingKey::from_secret(secret.as_bytes());
    let sign = |c: &Value| encode(&Header::new(Algorithm::HS256), c, &key).unwrap();
    let with = |base: &Value, claim: &str, scopes: &str| {
        let mut claims = base.clone();
        claims[claim] = json!(scopes);
        claims
    };

    let app = spawn_app_with(jwt_settings(Some(secret), false)).await;
    let (user, project) = ids(&app).await;
    let base = claims(&user, &project, 300);
    let reader = sign(&with(&base, "scope", "openid read"));
    let (status, body) = app.graphql_as(&reader, MUTATE, json!({})).await;
    assert_eq!((status, first_code(&body)), (200, "FORBIDDEN"), "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let (_, body) = app.graphql_as(&reader, VIEWER, json!({})).await;
    assert_eq!(body["data"]["viewer"]["user"]["email"], "ada@acme.test");
    let writer = sign(&with(&base, "scope", "read write"));
    let (_, body) = app.graphql_as(&writer, MUTATE, json!({})).await;
    assert_eq!(first_code(&body), "NOT_CONNECTED", "it ran: {body}");
    let (status, body) = app
        .graphql_as(&sign(&with(&base, "scope", "")), VIEWER, json!({}))
        .await;
    assert_eq!((status, first_code(&body)), (200, "FORBIDDEN"), "{body}");

    let mut settings = jwt_settings(Some(secret), false);
    settings.auth.jwt.as_mut().unwrap().scope_claim = "scp".into();
    let app = spawn_app_with(settings).await;
    let (user, project) = ids(&app).await;
    let base = claims(&user, &project, 300);
    let renamed = sign(&with(&with(&base, "scope", "read write"), "scp", "read"));
    let (_, body) = app.graphql_as(&renamed, MUTATE, json!({})).await;
    assert_eq!(
        first_code(&body),
        "FORBIDDEN",
        "the `scp` claim rules: {body}"
    );
    let renamed = sign(&with(&with(&base, "scope", "read"), "scp", "read write"));
    let (_, body) = app.graphql_as(&renamed, MUTATE, json!({})).await;
    assert_eq!(first_code(&body), "NOT_CONNECTED", "it ran: {body}");
}
