//! What Gmail's upload URL, Calendar's instances and freeBusy, and every Google and Stripe path
//! the sandbox does not serve answer, over real HTTP: Google's and Stripe's own error bodies.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::sandbox_with_tokens;

const RFC822: &str = "From: sandbox.user@nexus.example\r\nTo: colleague@nexus.example\r\nSubject: Upload\r\n\r\nHello.\r\n";

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(!text.is_empty(), "{status}: an empty body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

fn reason(body: &Value) -> &str {
    body["error"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or_default()
}

async fn google() -> (String, Client, String) {
    let (origin, client, tokens) = sandbox_with_tokens("google").await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    // Each send spends 100 of Gmail's 250 units a second, refused or not.
    crate::sdk_google::unlimited(&client, &origin).await;
    (origin, client, token)
}

#[tokio::test]
async fn gmail_uploads_take_media_and_multipart_and_refuse_what_gmail_refuses() {
    let (origin, client, token) = google().await;
    let upload = format!("{origin}/upload/gmail/v1/users/me/messages/send");
    let post = |url: String, content_type: &str, body: String| {
        client
            .post(url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
    };

    let (status, sent) = answer(post(
        format!("{upload}?uploadType=media"),
        "message/rfc822",
        RFC822.to_owned(),
    ))
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["labelIds"], json!(["SENT"]));
    let thread = sent["threadId"].as_str().unwrap();

    let multipart = format!(
        "--b0\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{}\r\n--b0\r\ncontent-type: message/rfc822\r\n\r\n{RFC822}\r\n--b0--",
        json!({ "threadId": thread })
    );
    let (status, reply) = answer(post(
        format!("{upload}?uploadType=multipart"),
        "multipart/related; boundary=b0",
        multipart.clone(),
    ))
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["threadId"], thread, "the metadata's threadId is kept");

    for (url, content_type, body, want) in [
        (
            upload.clone(),
            "message/rfc822",
            RFC822.to_owned(),
            "invalid",
        ),
        (
            format!("{upload}?uploadType=media"),
            "text/plain",
            RFC822.to_owned(),
            "badContent",
        ),
        (
            format!("{upload}?uploadType=sideways"),
            "message/rfc822",
            RFC822.to_owned(),
            "invalid",
        ),
        (
            format!("{upload}?uploadType=multipart"),
            "multipart/related; boundary=b0",
            "--b0\r\ncontent-type: message/rfc822\r\n\r\nx\r\n--b0--".to_owned(),
            "badRequest",
        ),
        (
            format!("{upload}?uploadType=multipart"),
            "multipart/related; boundary=b0",
            multipart.replace("message/rfc822", "application/pdf"),
            "badContent",
        ),
        (
            format!("{origin}/gmail/v1/users/me/messages/send"),
            "multipart/related; boundary=b0",
            multipart.clone(),
            "wrongUrlForUpload",
        ),
    ] {
        let (status, body) = answer(post(url.clone(), content_type, body)).await;
        assert_eq!(status, 400, "{url} {content_type}: {body}");
        assert_eq!(reason(&body), want, "{url} {content_type}: {body}");
        assert_eq!(body["error"]["code"], 400);
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn calendar_instances_and_free_busy_answer_in_googles_shapes() {
    let (origin, client, token) = google().await;
    let (status, event) = answer(
        client
            .post(format!("{origin}/calendar/v3/calendars/primary/events"))
            .bearer_auth(&token)
            .json(&json!({
                "summary": "Daily standup",
                "start": { "dateTime": "2027-05-03T09:00:00Z" },
                "end": { "dateTime": "2027-05-03T09:15:00Z" },
                "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"],
            })),
    )
    .await;
    assert_eq!(status, 200, "{event}");
    let id = event["id"].as_str().unwrap();
    let instances = format!("{origin}/calendar/v3/calendars/primary/events/{id}/instances");

    let (status, page) = answer(
        client
            .get(format!("{instances}?maxResults=2"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["kind"], "calendar#events");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["id"], format!("{id}_20270503T090000Z"));
    assert_eq!(page["items"][0]["recurringEventId"], id);
    assert!(page["items"][0]["originalStartTime"]["dateTime"].is_string());
    assert!(page["items"][0].get("recurrence").is_none());
    let token_param = page["nextPageToken"].as_str().unwrap();
    let (_, rest) = answer(
        client
            .get(format!("{instances}?maxResults=2&pageToken={token_param}"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(rest["items"][0]["id"], format!("{id}_20270505T090000Z"));

    let (_, one) = answer(
        client
            .get(format!("{instances}?originalStart=2027-05-06T09:00:00Z"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1, "{one}");

    let (status, empty) = answer(
        client
            .get(format!(
                "{instances}?timeMin=2027-05-06T00:00:00Z&timeMax=2027-05-05T00:00:00Z"
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 400, "{empty}");
    assert_eq!(reason(&empty), "timeRangeEmpty");

    let (status, busy) = answer(
        client
            .post(format!("{origin}/calendar/v3/freeBusy"))
            .bearer_auth(&token)
            .json(&json!({
                "timeMin": "2027-05-03T09:10:00Z",
                "timeMax": "2027-05-04T09:05:00Z",
                "items": [{ "id": "primary" }, { "id": "someone@not-hosted.example" }],
            })),
    )
    .await;
    assert_eq!(status, 200, "{busy}");
    assert_eq!(busy["kind"], "calendar#freeBusy");
    assert_eq!(busy["timeMin"], "2027-05-03T09:10:00.000Z");
    let primary = busy["calendars"]["primary"]["busy"].as_array().unwrap();
    // Clipped at both ends of the window (a seeded event may widen an interval inward).
    let text = |b: &Value, k: &str| b[k].as_str().unwrap().to_owned();
    assert!(
        primary
            .iter()
            .any(|b| text(b, "start") == "2027-05-03T09:10:00.000Z"
                && text(b, "end").as_str() >= "2027-05-03T09:15:00.000Z"),
        "{busy}"
    );
    assert!(
        primary
            .iter()
            .any(|b| text(b, "end") == "2027-05-04T09:05:00.000Z"
                && text(b, "start").as_str() <= "2027-05-04T09:00:00.000Z"),
        "{busy}"
    );
    assert!(
        primary
            .iter()
            .all(|b| text(b, "start").as_str() >= "2027-05-03T09:10:00.000Z"
                && text(b, "end").as_str() <= "2027-05-04T09:05:00.000Z"),
        "{busy}"
    );
    assert_eq!(
        busy["calendars"]["someone@not-hosted.example"],
        json!({ "errors": [{ "domain": "global", "reason": "notFound" }], "busy": [] })
    );

    let (status, missing) = answer(
        client
            .post(format!("{origin}/calendar/v3/freeBusy"))
            .bearer_auth(&token)
            .json(&json!({ "timeMax": "2027-05-04T00:00:00Z", "items": [] })),
    )
    .await;
    assert_eq!(status, 400, "{missing}");
    assert_eq!(reason(&missing), "required");
    let many: Vec<Value> = (0..51)
        .map(|i| json!({ "id": format!("p{i}@nexus.example") }))
        .collect();
    let (status, too_many) = answer(
        client
            .post(format!("{origin}/calendar/v3/freeBusy"))
            .bearer_auth(&token)
            .json(&json!({
                "timeMin": "2027-05-03T00:00:00Z", "timeMax": "2027-05-04T00:00:00Z", "items": many,
            })),
    )
    .await;
    assert_eq!(status, 400, "{too_many}");
    assert_eq!(reason(&too_many), "tooManyCalendarsRequested");
}

#[tokio::test]
async fn every_google_and_stripe_404_carries_the_providers_error_body() {
    let (origin, client, token) = google().await;
    let google_404 = |body: &Value| {
        body["error"]["code"] == 404
            && body["error"]["status"] == "NOT_FOUND"
            && body["error"]["errors"][0]["reason"] == "notFound"
    };
    for (method, path) in [
        ("GET", "/google"),
        ("GET", "/google/nothing"),
        ("GET", "/google/gmail/v1/users/me/nothing"),
        ("GET", "/gmail/v1/users/me/nothing"),
        ("GET", "/google/gmail/v1/users/me/messages/send"),
        ("DELETE", "/google/gmail/v1/users/me/messages/batchModify"),
        ("GET", "/google/upload/gmail/v1/users/me/messages/send"),
        ("GET", "/upload/gmail/v1/users/me/nothing"),
        ("GET", "/google/gmail/v1/users/me/messages/ffffffffffffffff"),
        ("GET", "/gmail/v1/users/me/threads/ffffffffffffffff"),
        ("GET", "/google/gmail/v1/users/me/labels/Label_404"),
        ("GET", "/google/batch/gmail/v1"),
        ("GET", "/calendar/v3/calendars/primary/events/nosuchevent"),
        (
            "GET",
            "/calendar/v3/calendars/primary/events/nosuchevent/instances",
        ),
        (
            "PATCH",
            "/google/calendar/v3/calendars/primary/events/nosuchevent",
        ),
        (
            "GET",
            "/google/calendar/v3/calendars/other@elsewhere.example/events",
        ),
        ("GET", "/calendar/v3/freeBusy"),
        ("GET", "/calendar/v3/nothing"),
    ] {
        let request = client
            .request(method.parse().unwrap(), format!("{origin}{path}"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{}");
        let (status, body) = answer(request).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(google_404(&body), "{method} {path}: {body}");
    }
    for (method, path) in [("GET", "/stripe/v1/charges"), ("POST", "/stripe/nothing")] {
        let (status, body) =
            answer(client.request(method.parse().unwrap(), format!("{origin}{path}"))).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "Unrecognized request URL ({method}: {})",
                path.trim_start_matches("/stripe")
            )),
            "{message}"
        );
    }
}
