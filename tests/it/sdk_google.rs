//! googleapis 178.0.0, the official Node client, over the sandbox's Gmail and Calendar
//! (`tests/js/sdk-google.mjs`): list, get, send as JSON `raw` and as `multipart/related` and
//! `media` uploads, modify, batchModify; calendarList, events insert, instances, list, freeBusy,
//! patch, get, delete. The client is unmodified but for `rootUrl` and its token; the sandbox's
//! counters show the calls reached the paths the client chose.

use serde_json::{Value, json};

use crate::helpers::{require, root, sandbox_with_tokens};

/// Whether `tests/js/node_modules` holds `package` (skips, or fails under NEXUS_TEST_STRICT=1).
pub fn node_package_ready(package: &str) -> bool {
    require(
        root().join("tests/js/node_modules").join(package).exists(),
        &format!("tests/js/node_modules/{package} (npm ci in tests/js)"),
    )
}

/// Runs `tests/js/<script>` with `args`; its last stdout line, as JSON.
pub async fn node_report(script: &str, args: &[&str]) -> Value {
    let output = tokio::process::Command::new("node")
        .arg(root().join("tests/js").join(script))
        .args(args)
        .output()
        .await
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script}: {stderr}\n{stdout}");
    serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("{script} printed no JSON: {stdout}\n{stderr}"))
}

/// Switches Gmail's per-user quota off (`POST /_sandbox/limits`).
pub async fn unlimited(client: &reqwest::Client, origin: &str) {
    let response = client
        .post(format!("{origin}/_sandbox/limits"))
        .json(&json!({ "provider": "gmail", "enforce": false }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn googleapis_drives_gmail_and_calendar_over_the_sandbox() {
    if !node_package_ready("googleapis") {
        return;
    }
    let (origin, client, tokens) = sandbox_with_tokens("google").await;
    let token = tokens["access_token"].as_str().unwrap();
    // Three sends (100 units each) within a second exceed Gmail's 250 units a second.
    unlimited(&client, &origin).await;
    let report = node_report("sdk-google.mjs", &[&origin, token]).await;

    assert_eq!(report["list"]["count"], 5, "{report}");
    assert!(report["list"]["nextPageToken"] == true, "{report}");
    assert_eq!(report["get"]["sameThread"], true, "{report}");
    assert_eq!(
        report["get"]["headers"],
        json!(["From", "Subject"]),
        "{report}"
    );
    assert_eq!(report["send"]["raw"], json!(["SENT"]), "{report}");
    assert_eq!(report["send"]["media"], json!(["SENT"]), "{report}");
    assert_eq!(report["send"]["multipartThread"], true, "{report}");
    assert_eq!(report["send"]["ids"], true, "{report}");
    assert!(
        report["send"]["multipartSubject"]
            .as_str()
            .unwrap()
            .starts_with("SDK multipart "),
        "{report}"
    );
    assert_eq!(report["send"]["wrongMedia"]["status"], 400, "{report}");
    assert_eq!(
        report["send"]["wrongMedia"]["reason"], "badContent",
        "{report}"
    );
    let labels = report["modify"]["labelIds"].as_array().unwrap();
    assert!(labels.contains(&json!("STARRED")), "{report}");
    assert!(!labels.contains(&json!("UNREAD")), "{report}");
    assert_eq!(report["batchModify"]["status"], 204, "{report}");
    assert_eq!(report["batchModify"]["important"], true, "{report}");

    assert_eq!(report["calendarList"]["primary"], true, "{report}");
    assert_eq!(report["instances"]["kind"], "calendar#events", "{report}");
    assert_eq!(report["instances"]["count"], 4, "{report}");
    assert_eq!(report["instances"]["recurringEventId"], true, "{report}");
    assert_eq!(
        report["instances"]["starts"],
        json!([
            "2027-03-01T10:00:00+00:00",
            "2027-03-08T10:00:00+00:00",
            "2027-03-15T10:00:00+00:00",
            "2027-03-22T10:00:00+00:00"
        ]),
        "{report}"
    );
    assert_eq!(report["instances"]["bounded"], 2, "{report}");
    assert_eq!(report["instances"]["unknown"]["status"], 404, "{report}");
    assert_eq!(
        report["instances"]["unknown"]["reason"], "notFound",
        "{report}"
    );
    assert_eq!(report["eventsList"]["count"], 4, "{report}");
    assert_eq!(report["freeBusy"]["kind"], "calendar#freeBusy", "{report}");
    assert_eq!(report["freeBusy"]["primary"], 2, "{report}");
    assert_eq!(
        report["freeBusy"]["unknown"],
        json!({ "errors": [{ "domain": "global", "reason": "notFound" }], "busy": [] }),
        "{report}"
    );
    assert_eq!(report["freeBusy"]["emptyRange"]["status"], 400, "{report}");
    assert_eq!(
        report["freeBusy"]["emptyRange"]["reason"], "timeRangeEmpty",
        "{report}"
    );
    assert_eq!(report["patch"]["summary"], true, "{report}");
    assert_eq!(report["delete"]["status"], 204, "{report}");
    assert_eq!(report["delete"]["again"]["status"], 410, "{report}");

    // The uploads reached Gmail's upload path; the JSON send its plain one.
    let counters: Value = client
        .get(format!("{origin}/_sandbox/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gmail = &counters["gmail"];
    let upload = &gmail["POST /google/upload/gmail/v1/users/{userId}/messages/send"];
    assert_eq!(upload["200"], 2, "{counters}");
    assert_eq!(upload["400"], 1, "{counters}");
    assert_eq!(
        gmail["POST /google/gmail/v1/users/{userId}/messages/send"]["200"], 1,
        "{counters}"
    );
    let calendar = &counters["google_calendar"];
    assert_eq!(
        calendar["GET /google/calendar/v3/calendars/{calendarId}/events/{eventId}/instances"]["200"],
        2,
        "{counters}"
    );
    assert_eq!(
        calendar["POST /google/calendar/v3/freeBusy"]["200"], 1,
        "{counters}"
    );

    // The three messages reached the recipient's mailbox.
    let colleague: Value = client
        .post(format!("{origin}/_sandbox/tokens"))
        .json(&json!({ "provider": "gmail", "account": "colleague@nexus.example" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inbox: Value = client
        .get(format!("{origin}/gmail/v1/users/me/messages?q=subject:SDK"))
        .bearer_auth(colleague["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["resultSizeEstimate"], 3, "{inbox}");
}
