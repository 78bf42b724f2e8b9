//! The Google Calendar simulator against Calendar v3's documented wire format (shared/providers/
//! wire-formats.md §4): the calendar list, events with paging, recurrence, time bounds, sync
//! tokens and 410s, writes and their errors, and watch channels.

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const ME: &str = "sandbox.user@nexus.example";

struct Cal {
    origin: String,
    token: String,
    client: Client,
}

async fn cal() -> Cal {
    let (origin, client, tokens) = crate::helpers::sandbox_with_tokens("google_calendar").await;
    assert_eq!(tokens["account"], ME);
    Cal {
        origin,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client,
    }
}

impl Cal {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/google/calendar/v3{path}", self.origin))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn admin(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/_sandbox{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Every page of a list, following nextPageToken; the items and the final nextSyncToken.
    async fn all_pages(&self, path: &str) -> (Vec<Value>, String) {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &token {
                Some(t) => format!("{path}{sep}pageToken={t}"),
                None => path.to_owned(),
            };
            let (status, page) = self.get(&url).await;
            assert_eq!(status, 200, "{page}");
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            assert!(
                page.get("nextPageToken").is_some() != page.get("nextSyncToken").is_some(),
                "exactly one of nextPageToken and nextSyncToken: {page}"
            );
            match page["nextPageToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => return (items, page["nextSyncToken"].as_str().unwrap().to_owned()),
            }
        }
    }
}

type Deliveries = tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, axum::body::Bytes)>;

async fn next(rx: &mut Deliveries) -> (axum::http::HeaderMap, axum::body::Bytes) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

fn assert_google_error(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["errors"][0]["reason"], reason, "{body}");
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn calendar_list_and_seeded_events_in_pages() {
    let c = cal().await;
    let (status, list) = c.get("/users/me/calendarList").await;
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "calendar#calendarList");
    assert_eq!(list["items"][0]["id"], ME);
    assert_eq!(list["items"][0]["primary"], true);
    assert_eq!(list["items"][0]["accessRole"], "owner");

    let (status, first) = c.get("/calendars/primary/events").await;
    assert_eq!(status, 200);
    assert_eq!(first["kind"], "calendar#events");
    assert_eq!(
        first["items"].as_array().unwrap().len(),
        250,
        "maxResults defaults to 250"
    );
    assert!(first["nextPageToken"].is_string() && first.get("nextSyncToken").is_none());
    let (items, _) = c
        .all_pages("/calendars/primary/events?maxResults=100")
        .await;
    assert!(items.len() >= 300, "{}", items.len());

    let event = &items[0];
    assert_eq!(event["kind"], "calendar#event");
    for field in [
        "etag", "id", "status", "htmlLink", "created", "updated", "summary", "iCalUID",
    ] {
        assert!(event[field].is_string(), "{field}: {event}");
    }
    let mine = items
        .iter()
        .find(|e| e["organizer"]["email"] == ME)
        .unwrap();
    assert_eq!(mine["organizer"]["self"], true);
    assert!(event["organizer"]["email"].is_string());
    assert!(
        items
            .iter()
            .any(|e| e["start"]["date"].is_string() && e["end"]["date"].is_string()),
        "all-day events"
    );
    assert!(items.iter().any(|e| {
        e["recurrence"][0]
            .as_str()
            .is_some_and(|r| r.starts_with("RRULE:FREQ=WEEKLY"))
    }));
    let zones: std::collections::BTreeSet<&str> = items
        .iter()
        .filter_map(|e| e["start"]["timeZone"].as_str())
        .collect();
    assert!(zones.len() >= 3, "{zones:?}");
    let attendee = items
        .iter()
        .flat_map(|e| e["attendees"].as_array().cloned().unwrap_or_default())
        .next()
        .unwrap();
    assert!(attendee["email"].as_str().unwrap().ends_with(".example"));
    assert!(
        ["accepted", "needsAction", "tentative", "declined"]
            .contains(&attendee["responseStatus"].as_str().unwrap())
    );

    // Expanded instances in a window, ordered by start.
    // The seeds' first month: they start 90 days before today.
    let first = chrono::Utc::now().date_naive() - chrono::Duration::days(90);
    let end = first + chrono::Duration::days(30);
    let window = format!("timeMin={first}T00:00:00Z&timeMax={end}T00:00:00%2B00:00");
    let (singles, _) = c
        .all_pages(&format!(
            "/calendars/primary/events?singleEvents=true&orderBy=startTime&{window}"
        ))
        .await;
    let starts: Vec<chrono::DateTime<chrono::FixedOffset>> = singles
        .iter()
        .map(|e| {
            e["start"]["dateTime"]
                .as_str()
                .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
                .unwrap_or_else(|| {
                    chrono::DateTime::parse_from_rfc3339(&format!(
                        "{}T00:00:00Z",
                        e["start"]["date"].as_str().unwrap()
                    ))
                    .unwrap()
                })
        })
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "ordered by start");
    assert!(starts.iter().all(|s| {
        s.to_utc()
            < chrono::DateTime::parse_from_rfc3339(&format!("{end}T00:00:00Z"))
                .unwrap()
                .to_utc()
    }));
    let instances: Vec<&Value> = singles
        .iter()
        .filter(|e| e["recurringEventId"].is_string())
        .collect();
    assert!(
        instances.len() >= 4,
        "weekly instances in the first month: {}",
        instances.len()
    );
    assert!(
        instances
            .iter()
            .all(|e| e.get("recurrence").is_none() && e["originalStartTime"].is_object())
    );
    let instance_id = instances[0]["id"].as_str().unwrap();
    assert!(instance_id.starts_with(instances[0]["recurringEventId"].as_str().unwrap()));
    let (status, one) = c
        .get(&format!("/calendars/primary/events/{instance_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["start"], instances[0]["start"]);

    let (_, searched) = c.get("/calendars/primary/events?q=offsite").await;
    assert!(
        searched["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["summary"] == "Offsite")
    );
    assert!(!searched["items"].as_array().unwrap().is_empty());

    let (status, body) = c.get("/calendars/primary/events?orderBy=startTime").await;
    assert_eq!(status, 400, "orderBy=startTime needs singleEvents");
    assert_google_error(&body, 400, "badRequest");
    let (status, _) = c.get("/calendars/primary/events?timeMin=yesterday").await;
    assert_eq!(status, 400);
    let (status, body) = c.get("/calendars/someone@else.example/events").await;
    assert_eq!(status, 404);
    assert_google_error(&body, 404, "notFound");
}

#[tokio::test]
async fn sync_tokens_return_changes_and_deletions_and_410_when_stale() {
    let c = cal().await;
    let (_, sync) = c.all_pages("/calendars/primary/events").await;
    let (status, nothing) = c
        .get(&format!("/calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(nothing["items"], json!([]));
    let sync = nothing["nextSyncToken"].as_str().unwrap().to_owned();

    let (status, created) = c
        .call(
            Method::POST,
            "/calendars/primary/events",
            Some(json!({
                "summary": "Zebra kickoff",
                "start": { "dateTime": "2026-12-01T10:00:00", "timeZone": "Asia/Tokyo" },
                "end": { "dateTime": "2026-12-01T11:00:00", "timeZone": "Asia/Tokyo" },
                "attendees": [{ "email": ME }, { "email": "ada.lovelace0@example.com" }],
            })),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "confirmed");
    assert_eq!(created["attendees"][1]["responseStatus"], "needsAction");
    assert_eq!(created["attendees"][0]["self"], true);
    let (_, changes) = c
        .get(&format!("/calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!(changes["items"].as_array().unwrap().len(), 1);
    assert_eq!(changes["items"][0]["id"], id.as_str());
    let sync = changes["nextSyncToken"].as_str().unwrap().to_owned();

    let (status, _) = c
        .call(
            Method::DELETE,
            &format!("/calendars/primary/events/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, changes) = c
        .get(&format!("/calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!(changes["items"][0]["id"], id.as_str());
    assert_eq!(
        changes["items"][0]["status"], "cancelled",
        "deletions always appear"
    );
    let (full, _) = c.all_pages("/calendars/primary/events?q=zebra").await;
    assert!(
        full.is_empty(),
        "a full sync leaves cancelled events out: {full:?}"
    );

    for stale in ["garbage", "c2FuZGJveC1zeW5jOjE6OTk5OTk5OQ=="] {
        let (status, body) = c
            .get(&format!("/calendars/primary/events?syncToken={stale}"))
            .await;
        assert_eq!(status, 410, "{body}");
        assert_google_error(&body, 410, "fullSyncRequired");
        assert_eq!(body["error"]["errors"][0]["domain"], "calendar");
        assert_eq!(
            body["error"]["message"],
            "Sync token is no longer valid, a full sync is required."
        );
    }
    // A token from before a reset is stale too.
    c.admin("/reset", json!({})).await;
    let tokens: Value = c
        .admin("/tokens", json!({ "provider": "google_calendar" }))
        .await
        .json()
        .await
        .unwrap();
    let fresh = Cal {
        origin: c.origin.clone(),
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client: c.client.clone(),
    };
    let (status, _) = fresh
        .get(&format!("/calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!(status, 410);
    let (status, _) = fresh
        .get(&format!("/calendars/primary/events?syncToken={sync}&q=x"))
        .await;
    assert_eq!(status, 400, "syncToken does not combine with q");
}

#[tokio::test]
async fn writes_and_their_errors() {
    let c = cal().await;
    let event = |start: &str, end: &str| json!({ "summary": "Review", "start": { "dateTime": start }, "end": { "dateTime": end } });
    let (status, body) = c
        .call(
            Method::POST,
            "/calendars/primary/events",
            Some(json!({ "summary": "x", "start": { "date": "2026-12-01" } })),
        )
        .await;
    assert_eq!(status, 400);
    assert_google_error(&body, 400, "required");
    let (status, body) = c
        .call(
            Method::POST,
            "/calendars/primary/events",
            Some(event("2026-12-01T10:00:00Z", "2026-12-01T09:00:00Z")),
        )
        .await;
    assert_eq!(status, 400);
    assert_google_error(&body, 400, "timeRangeEmpty");
    let (status, body) = c.call(Method::POST, "/calendars/primary/events", Some(json!({ "start": { "dateTime": "2026-12-01T10:00:00" }, "end": { "dateTime": "2026-12-01T11:00:00" } }))).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Missing time zone definition for start time."
    );
    let mut nameless = event("2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z");
    nameless["attendees"] = json!([{ "displayName": "No address" }]);
    let (status, body) = c
        .call(Method::POST, "/calendars/primary/events", Some(nameless))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "Missing attendee email.");
    let (status, _) = c
        .call(
            Method::POST,
            "/calendars/primary/events",
            Some(json!(["not", "an", "event"])),
        )
        .await;
    assert_eq!(status, 400);
    let mut with_id = event("2026-12-01T10:00:00+01:00", "2026-12-01T11:00:00+01:00");
    with_id["id"] = json!("NOT_BASE32HEX!");
    let (status, _) = c
        .call(
            Method::POST,
            "/calendars/primary/events",
            Some(with_id.clone()),
        )
        .await;
    assert_eq!(status, 400);
    with_id["id"] = json!("abcdef0123456789");
    let (status, created) = c
        .call(
            Method::POST,
            "/calendars/primary/events",
            Some(with_id.clone()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(created["id"], "abcdef0123456789");
    let (status, body) = c
        .call(Method::POST, "/calendars/primary/events", Some(with_id))
        .await;
    assert_eq!(status, 409);
    assert_google_error(&body, 409, "duplicate");

    // Patch: attendees are replaced whole; moving the time bumps sequence; etag changes.
    let path = "/calendars/primary/events/abcdef0123456789";
    let (_, patched) = c.call(Method::PATCH, path, Some(json!({ "attendees": [{ "email": "a@acmelabs.example" }, { "email": "b@acmelabs.example" }] }))).await;
    let (status, patched) = c.call(Method::PATCH, path, Some(json!({ "attendees": [{ "email": "c@acmelabs.example", "responseStatus": "accepted" }] , "etag": patched["etag"] }))).await;
    assert_eq!(status, 200);
    assert_eq!(patched["attendees"].as_array().unwrap().len(), 1);
    assert_eq!(patched["summary"], "Review", "other fields stay");
    assert_eq!(patched["sequence"], 0);
    let (_, moved) = c.call(Method::PATCH, path, Some(json!({ "start": { "dateTime": "2026-12-01T12:00:00+01:00" }, "end": { "dateTime": "2026-12-01T13:00:00+01:00" } }))).await;
    assert_eq!(moved["sequence"], 1);
    assert_ne!(moved["etag"], created["etag"]);
    let (status, body) = c
        .call(
            Method::PATCH,
            path,
            Some(json!({ "end": { "dateTime": "2026-12-01T11:00:00+01:00" } })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let stale = c
        .client
        .patch(format!("{}/google/calendar/v3{path}", c.origin))
        .bearer_auth(&c.token)
        .header("if-match", created["etag"].as_str().unwrap())
        .json(&json!({ "summary": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let (status, _) = c.get("/calendars/primary/events/nosuchevent0").await;
    assert_eq!(status, 404);
    let (status, _) = c.call(Method::DELETE, path, None).await;
    assert_eq!(status, 204);
    let (status, body) = c.call(Method::DELETE, path, None).await;
    assert_eq!(status, 410, "deleting again");
    assert_google_error(&body, 410, "deleted");
    let (status, body) = c
        .call(Method::PATCH, path, Some(json!({ "summary": "x" })))
        .await;
    assert_eq!(status, 404, "{body}");

    // An expired token: Google's 401 with its challenge.
    c.admin("/clock", json!({ "advance_s": 3600 })).await;
    let r = c
        .client
        .get(format!(
            "{}/google/calendar/v3/calendars/primary/events",
            c.origin
        ))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_google_error(&r.json::<Value>().await.unwrap(), 401, "authError");
}

#[tokio::test]
async fn watch_channels_notify_sync_then_changes_until_stopped() {
    let c = cal().await;
    let (url, mut rx) = crate::helpers::webhook_receiver().await;
    let (status, channel) = c
        .call(Method::POST, "/calendars/primary/events/watch", Some(json!({ "id": "chan-1", "type": "web_hook", "address": url, "token": "target=crm" })))
        .await;
    assert_eq!(status, 200, "{channel}");
    assert_eq!(channel["kind"], "api#channel");
    assert_eq!(channel["id"], "chan-1");
    let resource_id = channel["resourceId"].as_str().unwrap().to_owned();
    assert!(
        channel["expiration"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );
    assert!(
        channel["resourceUri"]
            .as_str()
            .unwrap()
            .ends_with("/google/calendar/v3/calendars/primary/events?alt=json")
    );

    let (headers, body) = next(&mut rx).await;
    assert!(body.is_empty(), "notifications have no body");
    assert_eq!(
        headers.get_all("content-length").iter().collect::<Vec<_>>(),
        ["0"]
    );
    let h = |name: &str| headers[name].to_str().unwrap().to_owned();
    assert_eq!(h("x-goog-channel-id"), "chan-1");
    assert_eq!(h("x-goog-channel-token"), "target=crm");
    assert_eq!(h("x-goog-resource-state"), "sync");
    assert_eq!(h("x-goog-message-number"), "1");
    assert_eq!(h("x-goog-resource-id"), resource_id);
    assert!(h("x-goog-channel-expiration").ends_with(" GMT"));
    assert_eq!(
        h("x-goog-resource-uri"),
        channel["resourceUri"].as_str().unwrap()
    );

    // A change made in Calendar's UI (the admin API) notifies `exists`.
    let created = c
        .admin("/records", json!({ "provider": "google_calendar", "object": "events", "op": "create", "fields": { "summary": "From the UI", "start": { "date": "2026-12-24" }, "end": { "date": "2026-12-25" } } }))
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let (headers, _) = next(&mut rx).await;
    assert_eq!(headers["x-goog-resource-state"], "exists");
    let first: u64 = headers["x-goog-message-number"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(first > 1);
    let updated = c
        .admin("/records", json!({ "provider": "google_calendar", "object": "events", "op": "update", "id": created["id"], "fields": { "summary": "Renamed" } }))
        .await;
    assert_eq!(updated.status(), 200);
    let (headers, _) = next(&mut rx).await;
    let second: u64 = headers["x-goog-message-number"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(second > first, "message numbers grow");

    let (status, _) = c
        .call(
            Method::POST,
            "/channels/stop",
            Some(json!({ "id": "chan-1", "resourceId": resource_id })),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = c
        .call(
            Method::POST,
            "/channels/stop",
            Some(json!({ "id": "chan-1", "resourceId": resource_id })),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    c.admin("/records", json!({ "provider": "google_calendar", "object": "events", "op": "delete", "id": created["id"] })).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "a stopped channel hears nothing"
    );

    let (status, _) = c
        .call(
            Method::POST,
            "/calendars/primary/events/watch",
            Some(json!({ "id": "chan-2", "type": "email", "address": url })),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn calendar_faults_and_counters() {
    let c = cal().await;
    c.admin(
        "/faults",
        json!({ "provider": "google_calendar", "status": 503, "count": 1 }),
    )
    .await;
    let (status, body) = c.get("/calendars/primary/events").await;
    assert_eq!(status, 503);
    assert_google_error(&body, 503, "backendError");
    assert_eq!(c.get("/calendars/primary/events").await.0, 200);
    let counters: Value = c
        .client
        .get(format!("{}/_sandbox/counters", c.origin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let route =
        &counters["google_calendar"]["GET /google/calendar/v3/calendars/{calendarId}/events"];
    assert_eq!(route["503"], 1);
    assert_eq!(route["200"], 1);
}

#[tokio::test]
async fn six_hundred_requests_a_minute_per_user_then_403_until_the_window_rolls() {
    let c = cal().await;
    for _ in 0..600 {
        assert_eq!(c.get("/users/me/calendarList").await.0, 200);
    }
    let (status, body) = c.get("/calendars/primary/events?maxResults=1").await;
    assert_eq!(status, 403);
    assert_google_error(&body, 403, "userRateLimitExceeded");
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");
    // Another user has a window of their own.
    let tokens: Value = c
        .admin(
            "/tokens",
            json!({ "provider": "google_calendar", "account": "ada.lovelace0@nexus.example" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let other = Cal {
        origin: c.origin.clone(),
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client: c.client.clone(),
    };
    assert_eq!(other.get("/users/me/calendarList").await.0, 200);
    c.admin("/clock", json!({ "advance_s": 60 })).await;
    assert_eq!(
        c.get("/users/me/calendarList").await.0,
        200,
        "the minute rolled on"
    );
    c.admin(
        "/limits",
        json!({ "provider": "google_calendar", "enforce": false }),
    )
    .await;
    for _ in 0..600 {
        assert_eq!(c.get("/users/me/calendarList").await.0, 200);
    }
}
