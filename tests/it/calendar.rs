//! Calendar events through GraphQL against the sandbox: Google Calendar and Outlook merged
//! earliest start first, every filter reaching the providers, paging that returns every event
//! once, createEvent and updateEvent on both calendars with attendees and time zones (checked in
//! the sandbox's own copy), idempotent creates, input errors, partial results when one calendar
//! fails, and Contact.events batched across a page of contacts.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox},
    crm::{counters, nodes},
    helpers::{TestApp, first_code},
};

/// A gateway pointed at a fresh sandbox with `providers` connected through the real flow.
async fn connected(providers: &[&str]) -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox(false).await;
    for provider in providers {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    (app, sandbox)
}

async fn both_calendars() -> (TestApp, String) {
    connected(&["GOOGLE_CALENDAR", "OUTLOOK"]).await
}

const EVENTS: &str = "query($first: Int, $after: String, $filter: EventFilter, $providers: [Provider!]) {
  events(first: $first, after: $after, filter: $filter, providers: $providers) {
    pageInfo { hasNextPage endCursor }
    nodes { id provider remoteId title description location start end allDay timeZone status htmlLink
            attendees { email name response } organizer { email name } }
  }
}";

fn start(node: &Value) -> DateTime<Utc> {
    node["start"].as_str().unwrap().parse().unwrap()
}

fn end(node: &Value) -> DateTime<Utc> {
    node["end"].as_str().unwrap().parse().unwrap()
}

fn involves(node: &Value, email: &str) -> bool {
    node["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&node["organizer"]))
        .any(|a| {
            a["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
}

/// Successful calls the sandbox answered for a provider on routes containing `part`.
fn calls_to(counters: &Value, provider: &str, part: &str) -> u64 {
    counters[provider]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .filter(|(route, _)| route.contains(part))
                .map(|(_, by_status)| by_status["200"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// Pages through `events` with `filter` to the end; returns every node seen.
async fn all_events(app: &TestApp, first: u32, filter: &Value) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let (status, body) = app
            .graphql(
                EVENTS,
                json!({ "first": first, "after": after, "filter": filter }),
            )
            .await;
        assert_eq!(status, 200);
        assert!(body["errors"].is_null(), "{body}");
        let page = nodes(&body, "events");
        assert!(page.len() <= first as usize);
        seen.extend(page);
        let info = &body["data"]["events"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = info["endCursor"].clone();
    }
    seen
}

fn window() -> Value {
    let now = Utc::now();
    json!({ "timeMin": now - Duration::days(20), "timeMax": now + Duration::days(20) })
}

#[tokio::test]
async fn paging_returns_every_event_of_both_calendars_once_earliest_first() {
    let (app, _sandbox) = both_calendars().await;
    let filter = window();
    let small = all_events(&app, 7, &filter).await;
    let ids: Vec<&str> = small.iter().map(|n| n["id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no event twice");
    assert!(
        ids.len() > 60,
        "both calendars' events in the window: {}",
        ids.len()
    );
    let providers: BTreeSet<&str> = small
        .iter()
        .map(|n| n["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, BTreeSet::from(["GOOGLE_CALENDAR", "OUTLOOK"]));
    assert!(
        small.windows(2).all(|w| start(&w[0]) <= start(&w[1])),
        "earliest first"
    );
    let (min, max) = (
        filter["timeMin"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        filter["timeMax"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
    );
    assert!(
        small.iter().all(|n| end(n) > min && start(n) < max),
        "events overlap the window"
    );

    // The same events, in the same order, in pages of 100.
    let large = all_events(&app, 100, &filter).await;
    let large_ids: Vec<&str> = large.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, large_ids);
}

#[tokio::test]
async fn every_filter_reaches_both_calendars() {
    let (app, sandbox) = both_calendars().await;
    let (_, body) = app
        .graphql(EVENTS, json!({ "first": 40, "filter": window() }))
        .await;
    let sample = nodes(&body, "events");
    let attendee = sample
        .iter()
        .filter(|n| n["provider"] == "GOOGLE_CALENDAR")
        .flat_map(|n| n["attendees"].as_array().unwrap().clone())
        .map(|a| a["email"].as_str().unwrap().to_owned())
        .find(|e| !e.ends_with("@nexus.example"))
        .expect("a guest in Google's events");

    let before = counters(&sandbox).await;
    let by_attendee = all_events(&app, 50, &json!({ "attendee": attendee.to_uppercase() })).await;
    assert!(!by_attendee.is_empty());
    assert!(
        by_attendee.iter().all(|n| involves(n, &attendee)),
        "{by_attendee:?}"
    );
    let after = counters(&sandbox).await;
    // Google searches for the attendee itself: one list call, not a walk through 320 events.
    assert_eq!(
        calls_to(&after, "google_calendar", "/events")
            - calls_to(&before, "google_calendar", "/events"),
        1
    );

    // Text: Google's `q`, Outlook's contains(subject,...).
    let by_text = all_events(&app, 50, &json!({ "text": "demo" })).await;
    let providers: BTreeSet<&str> = by_text
        .iter()
        .map(|n| n["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        BTreeSet::from(["GOOGLE_CALENDAR", "OUTLOOK"]),
        "{by_text:?}"
    );
    for n in &by_text {
        let text = format!("{} {} {}", n["title"], n["description"], n["location"]).to_lowercase();
        let guests = n["attendees"].to_string().to_lowercase();
        assert!(text.contains("demo") || guests.contains("demo"), "{n}");
    }
    assert!(
        by_text
            .iter()
            .filter(|n| n["provider"] == "OUTLOOK")
            .all(|n| n["title"].as_str().unwrap().to_lowercase().contains("demo"))
    );

    // A narrow window and a text together.
    let now = Utc::now();
    let narrow = json!({ "timeMin": now - Duration::days(3), "timeMax": now + Duration::days(3), "text": "demo" });
    let both = all_events(&app, 50, &narrow).await;
    assert!(both.len() < by_text.len());
    assert!(
        both.iter()
            .all(|n| end(n) > now - Duration::days(3) && start(n) < now + Duration::days(3))
    );
}

/// The sandbox's own copy of an event, read with a token of its own.
async fn stored(sandbox: &str, provider: &str, id: &str) -> Value {
    let client = reqwest::Client::new();
    let tokens: Value = client
        .post(format!("{sandbox}/_sandbox/tokens"))
        .json(&json!({ "provider": provider }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = match provider {
        "google_calendar" => format!("/google/calendar/v3/calendars/primary/events/{id}"),
        _ => format!("/microsoft/v1.0/me/events/{id}"),
    };
    client
        .get(format!("{sandbox}{path}"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const CREATE: &str = "mutation($input: CreateEventInput!) {
  createEvent(input: $input) { event { id provider remoteId title description location start end allDay timeZone
    attendees { email response } } }
}";

const UPDATE: &str = "mutation($input: UpdateEventInput!) {
  updateEvent(input: $input) { event { id provider remoteId title start end timeZone attendees { email } } }
}";

fn emails(node: &Value) -> BTreeSet<String> {
    node["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap().to_lowercase())
        .collect()
}

#[tokio::test]
async fn create_and_update_on_google_keep_attendees_and_time_zones() {
    let (app, sandbox) = both_calendars().await;
    let (status, body) = app
        .graphql(
            CREATE,
            json!({ "input": {
                "provider": "GOOGLE_CALENDAR", "title": "Quarterly review", "description": "Numbers",
                "location": "Room 7", "start": "2027-01-15T15:00:00Z", "end": "2027-01-15T16:30:00Z",
                "timeZone": "America/New_York", "attendees": ["ann@acme.test", "bob@acme.test"] } }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let event = &body["data"]["createEvent"]["event"];
    assert_eq!(event["provider"], "GOOGLE_CALENDAR");
    assert_eq!(start(event).to_rfc3339(), "2027-01-15T15:00:00+00:00");
    assert_eq!(event["timeZone"], "America/New_York");
    assert_eq!(event["attendees"][0]["response"], "NEEDS_ACTION");
    let id = event["remoteId"].as_str().unwrap();
    let copy = stored(&sandbox, "google_calendar", id).await;
    assert_eq!(copy["summary"], "Quarterly review");
    assert_eq!(
        copy["start"]["dateTime"], "2027-01-15T10:00:00-05:00",
        "{copy}"
    );
    assert_eq!(copy["start"]["timeZone"], "America/New_York");
    assert_eq!(copy["end"]["dateTime"], "2027-01-15T11:30:00-05:00");
    assert_eq!(
        emails(&json!({ "attendees": copy["attendees"] })),
        BTreeSet::from(["ann@acme.test".into(), "bob@acme.test".into()])
    );

    // Moved by an hour into Tokyo's zone, one attendee replaced; the end follows as it stood.
    let (_, body) = app
        .graphql(
            UPDATE,
            json!({ "input": { "id": event["id"], "title": "Quarterly review (moved)",
                "start": "2027-01-15T16:00:00Z", "timeZone": "Asia/Tokyo",
                "attendees": ["ann@acme.test", "cy@acme.test"] } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let updated = &body["data"]["updateEvent"]["event"];
    assert_eq!(updated["id"], event["id"]);
    assert_eq!(start(updated).to_rfc3339(), "2027-01-15T16:00:00+00:00");
    assert_eq!(end(updated).to_rfc3339(), "2027-01-15T16:30:00+00:00");
    let copy = stored(&sandbox, "google_calendar", id).await;
    assert_eq!(copy["summary"], "Quarterly review (moved)");
    assert_eq!(
        copy["start"]["dateTime"], "2027-01-16T01:00:00+09:00",
        "{copy}"
    );
    assert_eq!(copy["start"]["timeZone"], "Asia/Tokyo");
    assert_eq!(copy["description"], "Numbers", "untouched fields stay");
    assert_eq!(
        emails(&json!({ "attendees": copy["attendees"] })),
        BTreeSet::from(["ann@acme.test".into(), "cy@acme.test".into()])
    );

    // An all-day event is dates, the end exclusive.
    let (_, body) = app
        .graphql(
            CREATE,
            json!({ "input": { "provider": "GOOGLE_CALENDAR", "title": "Offsite", "allDay": true,
                "start": "2027-02-01T00:00:00Z", "end": "2027-02-02T00:00:00Z" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let day = &body["data"]["createEvent"]["event"];
    assert_eq!(day["allDay"], true);
    let copy = stored(
        &sandbox,
        "google_calendar",
        day["remoteId"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (copy["start"]["date"].as_str(), copy["end"]["date"].as_str()),
        (Some("2027-02-01"), Some("2027-02-02"))
    );
}

#[tokio::test]
async fn create_and_update_on_outlook_keep_attendees_and_time_zones() {
    let (app, sandbox) = both_calendars().await;
    let (_, body) = app
        .graphql(
            CREATE,
            json!({ "input": {
                "provider": "OUTLOOK", "title": "Kick-off", "description": "Plan",
                "start": "2027-01-15T01:30:00Z", "end": "2027-01-15T02:00:00Z",
                "timeZone": "Asia/Tokyo", "attendees": ["ann@acme.test"] } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let event = &body["data"]["createEvent"]["event"];
    assert_eq!(event["provider"], "OUTLOOK");
    assert_eq!(start(event).to_rfc3339(), "2027-01-15T01:30:00+00:00");
    assert_eq!(event["timeZone"], "Asia/Tokyo");
    assert_eq!(event["description"], "Plan");
    let id = event["remoteId"].as_str().unwrap();
    let copy = stored(&sandbox, "outlook", id).await;
    assert_eq!(copy["subject"], "Kick-off");
    assert_eq!(copy["originalStartTimeZone"], "Asia/Tokyo", "{copy}");
    assert_eq!(copy["start"]["dateTime"], "2027-01-15T01:30:00.0000000");
    assert_eq!(copy["start"]["timeZone"], "UTC");
    assert_eq!(
        copy["attendees"][0]["emailAddress"]["address"],
        "ann@acme.test"
    );

    let (_, body) = app
        .graphql(
            UPDATE,
            json!({ "input": { "id": event["id"], "end": "2027-01-15T03:00:00Z",
                "timeZone": "America/New_York", "attendees": ["bob@acme.test", "cy@acme.test"] } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let updated = &body["data"]["updateEvent"]["event"];
    assert_eq!(start(updated).to_rfc3339(), "2027-01-15T01:30:00+00:00");
    assert_eq!(end(updated).to_rfc3339(), "2027-01-15T03:00:00+00:00");
    assert_eq!(updated["timeZone"], "America/New_York");
    let copy = stored(&sandbox, "outlook", id).await;
    assert_eq!(copy["originalStartTimeZone"], "America/New_York");
    assert_eq!(copy["end"]["dateTime"], "2027-01-15T03:00:00.0000000");
    assert_eq!(copy["subject"], "Kick-off", "untouched fields stay");
    assert_eq!(
        emails(
            &json!({ "attendees": copy["attendees"].as_array().unwrap().iter().map(|a| json!({ "email": a["emailAddress"]["address"] })).collect::<Vec<_>>() })
        ),
        BTreeSet::from(["bob@acme.test".into(), "cy@acme.test".into()])
    );
}

#[tokio::test]
async fn an_all_day_outlook_event_keeps_its_dates_in_its_zone() {
    let (app, sandbox) = both_calendars().await;
    // 1 February in Berlin starts at 23:00 UTC the day before.
    let (_, body) = app
        .graphql(
            CREATE,
            json!({ "input": { "provider": "OUTLOOK", "title": "Offsite", "allDay": true,
                "start": "2027-01-31T23:00:00Z", "end": "2027-02-01T23:00:00Z", "timeZone": "Europe/Berlin" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let event = &body["data"]["createEvent"]["event"];
    assert_eq!(event["allDay"], true);
    assert_eq!(
        start(event).to_rfc3339(),
        "2027-02-01T00:00:00+00:00",
        "{event}"
    );
    assert_eq!(end(event).to_rfc3339(), "2027-02-02T00:00:00+00:00");
    let copy = stored(&sandbox, "outlook", event["remoteId"].as_str().unwrap()).await;
    assert_eq!(copy["isAllDay"], true);
    assert_eq!(copy["originalStartTimeZone"], "Europe/Berlin");
    assert_eq!(
        copy["start"]["dateTime"], "2027-01-31T23:00:00.0000000",
        "{copy}"
    );
}

#[tokio::test]
async fn a_repeated_create_with_its_key_creates_nothing() {
    let (app, sandbox) = both_calendars().await;
    let input = json!({ "provider": "OUTLOOK", "title": "Once", "start": "2027-01-20T10:00:00Z",
        "end": "2027-01-20T11:00:00Z", "attendees": ["ann@acme.test"], "idempotencyKey": "evt-1" });
    let before = counters(&sandbox).await;
    let (_, first) = app.graphql(CREATE, json!({ "input": input })).await;
    let (_, again) = app.graphql(CREATE, json!({ "input": input })).await;
    assert!(
        first["errors"].is_null() && again["errors"].is_null(),
        "{first} {again}"
    );
    assert_eq!(
        first["data"]["createEvent"]["event"]["id"],
        again["data"]["createEvent"]["event"]["id"]
    );
    let after = counters(&sandbox).await;
    let created = |c: &Value| {
        c["outlook"]["POST /microsoft/v1.0/me/events"]["201"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(created(&after) - created(&before), 1, "{after}");

    let google = json!({ "provider": "GOOGLE_CALENDAR", "title": "Once", "start": "2027-01-20T10:00:00Z",
        "end": "2027-01-20T11:00:00Z", "idempotencyKey": "evt-2" });
    let (_, one) = app.graphql(CREATE, json!({ "input": google })).await;
    let (_, two) = app.graphql(CREATE, json!({ "input": google })).await;
    assert_eq!(
        one["data"]["createEvent"]["event"]["id"], two["data"]["createEvent"]["event"]["id"],
        "{one} {two}"
    );
    let (_, list) = app
        .graphql(EVENTS, json!({ "first": 10, "filter": { "timeMin": "2027-01-20T09:00:00Z", "timeMax": "2027-01-20T12:00:00Z", "text": "Once" } }))
        .await;
    assert_eq!(nodes(&list, "events").len(), 2, "one per calendar: {list}");
}

fn error_field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_input_is_refused_with_its_field_before_any_call() {
    let (app, sandbox) = both_calendars().await;
    let before = counters(&sandbox).await;
    let cases = [
        (
            EVENTS,
            json!({ "filter": { "attendee": "not-an-email" } }),
            "filter.attendee",
        ),
        (
            EVENTS,
            json!({ "filter": { "timeMin": "2027-01-02T00:00:00Z", "timeMax": "2027-01-01T00:00:00Z" } }),
            "filter.timeMax",
        ),
        (EVENTS, json!({ "filter": { "text": "  " } }), "filter.text"),
        (EVENTS, json!({ "first": 500 }), "first"),
        (
            CREATE,
            json!({ "input": { "provider": "GOOGLE_CALENDAR", "title": " ", "start": "2027-01-01T10:00:00Z", "end": "2027-01-01T11:00:00Z" } }),
            "input.title",
        ),
        (
            CREATE,
            json!({ "input": { "provider": "OUTLOOK", "title": "x", "start": "2027-01-01T10:00:00Z", "end": "2027-01-01T09:00:00Z" } }),
            "input.end",
        ),
        (
            CREATE,
            json!({ "input": { "provider": "OUTLOOK", "title": "x", "start": "2027-01-01T10:00:00Z", "end": "2027-01-01T11:00:00Z", "timeZone": "Mars/Olympus" } }),
            "input.timeZone",
        ),
        (
            CREATE,
            json!({ "input": { "provider": "GOOGLE_CALENDAR", "title": "x", "start": "2027-01-01T10:00:00Z", "end": "2027-01-01T11:00:00Z", "attendees": ["nope"] } }),
            "input.attendees",
        ),
        (
            CREATE,
            json!({ "input": { "provider": "SLACK", "title": "x", "start": "2027-01-01T10:00:00Z", "end": "2027-01-01T11:00:00Z" } }),
            "input.provider",
        ),
        (
            UPDATE,
            json!({ "input": { "id": "not-an-id", "title": "x" } }),
            "input.id",
        ),
    ];
    for (query, variables, field) in cases {
        let (status, body) = app.graphql(query, variables).await;
        assert_eq!(status, 200);
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{field}: {body}");
        assert_eq!(error_field(&body), field, "{body}");
    }
    let after = counters(&sandbox).await;
    for provider in ["google_calendar", "outlook"] {
        assert_eq!(
            crate::crm::total_calls(&after, provider),
            crate::crm::total_calls(&before, provider),
            "no call reached {provider}"
        );
    }
}

#[tokio::test]
async fn one_calendar_down_still_returns_the_other_with_its_error() {
    let (app, sandbox) = both_calendars().await;
    let fault = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({ "provider": "outlook", "status": 503, "retry_after": 7 }))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    let (status, body) = app
        .graphql(EVENTS, json!({ "first": 15, "filter": window() }))
        .await;
    assert_eq!(status, 200);
    let list = nodes(&body, "events");
    assert_eq!(list.len(), 15, "{body}");
    assert!(list.iter().all(|n| n["provider"] == "GOOGLE_CALENDAR"));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    let extensions = &errors[0]["extensions"];
    assert_eq!(extensions["code"], "PROVIDER_UNAVAILABLE");
    assert_eq!(extensions["provider"], "OUTLOOK");
    assert!(extensions["retryAfter"].as_u64().is_some(), "{body}");
}

const CONTACT_EVENTS: &str = "{ contacts(first: 50) { nodes { id email events(first: 5) {
    pageInfo { hasNextPage endCursor }
    nodes { remoteId provider start attendees { email } organizer { email } } } } } }";

#[tokio::test]
async fn contact_events_cost_one_round_trip_per_calendar_for_a_page_of_contacts() {
    let (app, sandbox) = connected(&["HUBSPOT", "SALESFORCE", "GOOGLE_CALENDAR", "OUTLOOK"]).await;
    let before = counters(&sandbox).await;
    let (status, body) = app.graphql(CONTACT_EVENTS, json!({})).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let after = counters(&sandbox).await;
    let contacts = nodes(&body, "contacts");
    assert_eq!(contacts.len(), 50);
    let mut with_events = 0;
    let mut per_email: HashMap<String, Vec<Value>> = HashMap::new();
    for contact in &contacts {
        let email = contact["email"].as_str().unwrap_or_default().to_lowercase();
        let events = contact["events"]["nodes"].as_array().unwrap();
        assert!(events.len() <= 5);
        assert!(
            events.iter().all(|e| involves(e, &email)),
            "{email}: {events:?}"
        );
        assert!(events.windows(2).all(|w| start(&w[0]) <= start(&w[1])));
        if !events.is_empty() {
            with_events += 1;
            per_email.insert(email, events.clone());
        }
    }
    assert!(
        with_events > 5,
        "seeded meetings name CRM people: {with_events}"
    );

    // Google: one batch carrying one search per address; Outlook: one calendar view.
    let delta = |provider: &str, part: &str| {
        calls_to(&after, provider, part) - calls_to(&before, provider, part)
    };
    assert_eq!(delta("google_calendar", "batch/calendar"), 1, "{after}");
    assert!(delta("google_calendar", "/events") >= per_email.len() as u64 / 2);
    assert_eq!(delta("outlook", "calendarView"), 1, "{after}");

    // Each contact still gets its own first five: the same as the attendee filter's first page.
    let (email, joined) = per_email.iter().max_by_key(|(_, e)| e.len()).unwrap();
    let (_, list) = app
        .graphql(
            EVENTS,
            json!({ "first": 5, "filter": { "attendee": email } }),
        )
        .await;
    let ids = |list: &[Value]| {
        list.iter()
            .map(|n| n["remoteId"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(joined), ids(&nodes(&list, "events")), "{email}");

    // The contact's next page continues where the joined one stopped, as the filtered list does.
    let contact = contacts
        .iter()
        .find(|c| {
            c["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
        .unwrap();
    assert_eq!(
        contact["events"]["pageInfo"]["hasNextPage"],
        list["data"]["events"]["pageInfo"]["hasNextPage"]
    );
    if contact["events"]["pageInfo"]["hasNextPage"] == true {
        let (_, next) = app
            .graphql(
                "query($id: ID!, $after: String) { node(id: $id) { ... on Contact { events(first: 5, after: $after) { nodes { remoteId } } } } }",
                json!({ "id": contact["id"], "after": contact["events"]["pageInfo"]["endCursor"] }),
            )
            .await;
        assert!(next["errors"].is_null(), "{next}");
        let (_, direct) = app
            .graphql(
                EVENTS,
                json!({ "first": 5, "after": list["data"]["events"]["pageInfo"]["endCursor"], "filter": { "attendee": email } }),
            )
            .await;
        let joined_next = next["data"]["node"]["events"]["nodes"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(ids(&joined_next), ids(&nodes(&direct, "events")));
    }
}

#[tokio::test]
async fn updating_an_event_that_is_not_there_is_not_found() {
    let (app, _sandbox) = both_calendars().await;
    // Ids of each provider's shape that name no event.
    for (provider, remote_id) in [
        ("google_calendar", "missing0event0id"),
        ("outlook", "AAMkAGbWlzc2luZw"),
    ] {
        let id = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!("Event:{provider}:{remote_id}"),
        );
        let (_, body) = app
            .graphql(UPDATE, json!({ "input": { "id": id, "title": "x" } }))
            .await;
        assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["provider"],
            provider.to_uppercase()
        );
    }
}

#[tokio::test]
async fn attendee_batches_stay_within_calendars_per_user_minute() {
    let (app, sandbox) = connected(&["HUBSPOT", "SALESFORCE", "GOOGLE_CALENDAR", "OUTLOOK"]).await;
    // A page of 50 contacts names over 25 addresses: a batch of the 50 tier, 50 of Google's
    // 600 requests a minute per user. Twelve fit; the thirteenth is refused here, with a wait.
    let mut refused = None;
    for _ in 0..14 {
        let (_, body) = app.graphql(CONTACT_EVENTS, json!({})).await;
        let google = body["errors"].as_array().and_then(|errors| {
            errors
                .iter()
                .find(|e| e["extensions"]["provider"] == "GOOGLE_CALENDAR")
                .cloned()
        });
        if google.is_some() {
            refused = google;
            break;
        }
    }
    let refused = refused.expect("a minute's quota runs out");
    assert_eq!(refused["extensions"]["code"], "RATE_LIMITED", "{refused}");
    assert!(refused["extensions"]["retryAfter"].as_u64().unwrap() > 0);
    let seen = counters(&sandbox).await;
    assert_eq!(calls_to(&seen, "google_calendar", "batch"), 12, "{seen}");
    let sandbox_refusals: u64 = seen["google_calendar"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|by_status| by_status["403"].as_u64())
        .sum();
    assert_eq!(
        sandbox_refusals, 0,
        "the sandbox never had to refuse: {seen}"
    );
}
