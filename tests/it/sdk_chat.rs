//! The official Slack and Microsoft Graph SDKs for Node, unmodified but for their base URL,
//! against the sandbox over real HTTP (`tests/js/sdk-slack.mjs`, `tests/js/sdk-graph.mjs`):
//! what they send is what the sandbox takes, and what the sandbox answers is what they read —
//! paging with their own iterators, errors with their own error types.

use serde_json::{Value, json};

use crate::helpers::{require, root, sandbox_with_tokens};

/// Whether `tests/js` has the SDK installed (`npm ci` there); required under `NEXUS_TEST_STRICT=1`.
fn installed(package: &str) -> bool {
    let modules = root().join("tests/js/node_modules");
    require(
        modules.join(package).exists(),
        &format!("{package} (npm ci in tests/js)"),
    )
}

/// Runs a script of `tests/js` with `args`; its last line of output, as JSON.
async fn run(script: &str, args: &[&str], env: &[(&str, String)]) -> Value {
    let output = tokio::process::Command::new("node")
        .arg(root().join("tests/js").join(script))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script}: {stderr}\n{stdout}");
    serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("{script}: not JSON: {stdout}\n{stderr}"))
}

/// A platform error as `@slack/web-api` throws it for Slack's `{"ok":false,"error":…}`.
fn platform_error(error: &str) -> Value {
    json!({ "code": "slack_webapi_platform_error", "error": error })
}

#[tokio::test]
async fn slacks_node_sdk_pages_posts_edits_reacts_deletes_and_reads_slacks_errors() {
    if !installed("@slack/web-api") {
        return;
    }
    let (origin, _, tokens) = sandbox_with_tokens("slack").await;
    let token = tokens["access_token"].as_str().unwrap();
    let report = run(
        "sdk-slack.mjs",
        &[&format!("{origin}/slack/api/"), token],
        &[],
    )
    .await;

    // conversations.list, history, replies and members, each through `client.paginate`.
    let channels = &report["channels"];
    assert_eq!(channels["count"], channels["unique"], "{report}");
    assert!(channels["count"].as_u64().unwrap() > 150, "{report}");
    assert!(channels["pages"].as_u64().unwrap() >= 4, "{report}");
    assert_eq!(channels["archived"], 0, "{report}");
    let history = &report["history"];
    assert_eq!(history["count"], history["unique"], "{report}");
    assert!(history["count"].as_u64().unwrap() >= 260, "{report}");
    assert!(history["pages"].as_u64().unwrap() >= 3, "{report}");
    assert_eq!(history["newestFirst"], true, "{report}");
    let replies = &report["replies"];
    assert_eq!(
        replies["count"].as_u64().unwrap(),
        replies["replyCount"].as_u64().unwrap() + 1,
        "{report}"
    );
    assert!(replies["pages"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(replies["parentFirst"], true, "{report}");
    // #general: the 300 members and the bot, 100 a page.
    assert_eq!(
        report["members"],
        json!({ "count": 301, "unique": 301, "pages": 4, "bot": true }),
        "{report}"
    );

    // chat.postMessage → chat.update → reactions.add → history shows both → chat.delete.
    let writes = &report["writes"];
    let ts = writes["posted"]["ts"].as_str().unwrap();
    assert_eq!(writes["posted"]["channel"], "C0SBX0000", "{report}");
    assert_eq!(
        writes["updated"],
        json!({ "ok": true, "ts": ts, "text": "edited by @slack/web-api", "edited": "U0SBXBOT1" }),
        "{report}"
    );
    assert_eq!(
        writes["seen"],
        json!({
            "ts": ts,
            "text": "edited by @slack/web-api",
            "reactions": [{ "name": "+1", "users": ["U0SBXBOT1"], "count": 1 }],
        }),
        "{report}"
    );
    assert_eq!(
        writes["alreadyReacted"],
        platform_error("already_reacted"),
        "{report}"
    );
    assert_eq!(
        writes["deleted"],
        json!({ "ok": true, "ts": ts }),
        "{report}"
    );
    assert_eq!(
        writes["afterDelete"],
        platform_error("message_not_found"),
        "{report}"
    );

    let errors = &report["errors"];
    for (case, error) in [
        ("channelNotFound", "channel_not_found"),
        ("invalidCursor", "invalid_cursor"),
        ("invalidName", "invalid_name"),
        ("cantUpdate", "cant_update_message"),
        ("notInChannel", "not_in_channel"),
        ("unknownMethod", "unknown_method"),
    ] {
        assert_eq!(errors[case], platform_error(error), "{case}: {report}");
    }

    // Tier 2: the SDK reads the 429 and its Retry-After as a rate-limited error.
    let limited = &report["rateLimited"];
    assert_eq!(
        limited["code"], "slack_webapi_rate_limited_error",
        "{report}"
    );
    assert!(limited["retryAfter"].as_u64().unwrap() >= 1, "{report}");
}

#[tokio::test]
async fn graphs_node_sdk_filters_mail_pages_members_and_messages_and_reads_graph_errors() {
    if !installed("@microsoft/microsoft-graph-client") {
        return;
    }
    let (origin, _, tokens) = sandbox_with_tokens("microsoft").await;
    let token = tokens["access_token"].as_str().unwrap();
    let ca = root().join("tests/js/fixtures/loopback-tls.pem");
    let report = run(
        "sdk-graph.mjs",
        &[&origin, token],
        &[("NODE_EXTRA_CA_CERTS", ca.display().to_string())],
    )
    .await;

    let mail = &report["mail"];
    assert_eq!(mail["count"], 10, "{report}");
    assert_eq!(mail["allUnread"], true, "{report}");
    assert_eq!(mail["newestFirst"], true, "{report}");
    assert_eq!(
        mail["selected"],
        json!(["@odata.etag", "id", "isRead", "receivedDateTime", "subject"]),
        "{report}"
    );
    let refused = &report["inefficientFilter"];
    assert_eq!(refused["graphError"], true, "{report}");
    assert_eq!(refused["statusCode"], 400, "{report}");
    assert_eq!(refused["code"], "InefficientFilter", "{report}");
    assert_eq!(
        refused["message"], "The restriction or sort order is too complex for this operation.",
        "{report}"
    );
    assert!(refused["requestId"].is_string(), "{report}");
    assert_eq!(report["events"]["count"], 5, "{report}");
    assert_eq!(report["events"]["withStart"], true, "{report}");

    let channel = &report["channel"];
    assert_eq!(channel["sameAsListed"], true, "{report}");
    assert_eq!(channel["membershipType"], "standard", "{report}");
    assert_eq!(
        channel["selected"],
        json!(["displayName", "id"]),
        "{report}"
    );
    for case in ["channelNotFound", "teamNotFound"] {
        let error = &report[case];
        assert_eq!(error["graphError"], true, "{case}: {report}");
        assert_eq!(error["statusCode"], 404, "{case}: {report}");
        assert_eq!(error["code"], "NotFound", "{case}: {report}");
        assert!(error["requestId"].is_string(), "{case}: {report}");
    }

    // Members: four of five population people belong to each team (480), 100 a page.
    let members = &report["members"];
    assert_eq!(members["count"], 480, "{report}");
    assert_eq!(members["unique"], 480, "{report}");
    assert_eq!(members["pages"], 5, "{report}");
    assert_eq!(members["shape"], true, "{report}");
    assert_eq!(members["owners"], 2, "{report}");
    assert_eq!(members["filtered"], json!([members["wanted"]]), "{report}");
    let too_large = &report["membersTopTooLarge"];
    assert_eq!(too_large["statusCode"], 400, "{report}");
    assert_eq!(too_large["code"], "BadRequest", "{report}");

    // The General channel's 45 messages, 10 a page through PageIterator.
    let messages = &report["channelMessages"];
    assert_eq!(messages["count"], 45, "{report}");
    assert_eq!(messages["unique"], 45, "{report}");
    assert_eq!(messages["pages"], 5, "{report}");
}
