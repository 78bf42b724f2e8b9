//! `GET /crm/v3/owners`: the portal's users who own records, as HubSpot's Owners API lists them
//! (`email` narrows to one; `limit` up to 500 and `after` page). Every seeded record has one of
//! them as its `hubspot_owner_id`.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Class, admit, error};
use crate::Ctx;

/// A HubSpot owner: its owner id (what `hubspot_owner_id` holds) and the user behind it.
pub struct Owner {
    pub id: &'static str,
    pub user_id: u64,
    pub email: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
}

/// The portal's owners; seeded records take them in turn.
pub const OWNERS: [Owner; 3] = [
    Owner {
        id: "41629779",
        user_id: 9586504,
        email: "riley.rep@nexus-sales.example",
        first_name: "Riley",
        last_name: "Rep",
    },
    Owner {
        id: "41629780",
        user_id: 9586505,
        email: "sam.seller@nexus-sales.example",
        first_name: "Sam",
        last_name: "Seller",
    },
    Owner {
        id: "41629781",
        user_id: 9586506,
        email: "alex.account@nexus-sales.example",
        first_name: "Alex",
        last_name: "Account",
    },
];

/// The owner of the `n`th seeded record.
pub fn owner_of(n: u64) -> &'static Owner {
    &OWNERS[(n % OWNERS.len() as u64) as usize]
}

#[derive(Debug, Deserialize)]
pub struct OwnersQuery {
    email: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

fn json_of(owner: &Owner) -> Value {
    json!({
        "id": owner.id,
        "email": owner.email,
        "type": "PERSON",
        "firstName": owner.first_name,
        "lastName": owner.last_name,
        "userId": owner.user_id,
        "userIdIncludingInactive": owner.user_id,
        "createdAt": "2019-01-08T10:00:00.000Z",
        "updatedAt": "2024-03-01T09:30:00.000Z",
        "archived": false,
        "teams": [],
    })
}

pub async fn list(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(query): Query<OwnersQuery>,
) -> Response {
    let admitted = match admit(&ctx, &headers, Class::Standard) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => return admitted.finish(error::validation("limit must be between 1 and 500")),
    };
    let offset = match query.after.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return admitted.finish(error::validation(
                "after must be a paging cursor from a previous page",
            ));
        }
    };
    let matching: Vec<&Owner> = OWNERS
        .iter()
        .filter(|o| {
            query
                .email
                .as_deref()
                .is_none_or(|e| o.email.eq_ignore_ascii_case(e))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| json_of(o))
        .collect();
    let mut body = json!({ "results": page });
    if offset + limit < matching.len() {
        let next = (offset + limit).to_string();
        body["paging"] = json!({ "next": { "after": next } });
    }
    admitted.respond(StatusCode::OK, body)
}
