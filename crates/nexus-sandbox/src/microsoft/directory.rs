//! The sandbox tenant's directory: every person of the shared population is a user, their
//! email being both `mail` and `userPrincipalName`, so mail, meetings and chats join other
//! providers' records by email. A user's sandbox account key (the name on the consent page,
//! what tokens and mailboxes are keyed by) is their alias: the email's local part without dots
//! (`ada.lovelace0@…` → `adalovelace0`). An alias that is nobody's signs in a new user of the
//! tenant's own domain, so any account typed on the consent page works.
//!
//! `GET /users/{id | userPrincipalName}` and `GET /me` answer the user resource.

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Ctx, Need, admit,
    error::{GraphResult, resource_not_found},
    graph_base,
};
use crate::population::population;

/// The sandbox tenant (`tid` in id tokens, `tenantId` in notifications).
pub const TENANT_ID: &str = "5ee7a8d4-2b1c-4f3e-9a61-5a4d0b5e2026";
/// The domain of users who are not in the population.
pub const TENANT_DOMAIN: &str = "nexussandbox.onmicrosoft.com";
/// Who signs in when the consent page is approved as is: the population's first person.
pub const DEFAULT_USER: &str = "adalovelace0";

/// One directory user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub alias: String,
    pub id: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub mail: String,
    pub job_title: Option<String>,
    pub phone: Option<String>,
    /// Index into the population, when the user is one of its people.
    pub person: Option<usize>,
}

/// A stable GUID-shaped object id for a seed string.
pub fn object_id(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let hex = hex::encode(&h[..16]);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn alias_of(email: &str) -> String {
    email.split('@').next().unwrap_or_default().replace('.', "")
}

/// The population person `index` as a user.
pub fn person(index: usize) -> Option<User> {
    let p = population().people.get(index)?;
    Some(User {
        alias: alias_of(&p.email),
        id: object_id(&p.email),
        display_name: format!("{} {}", p.first_name, p.last_name),
        given_name: p.first_name.to_owned(),
        surname: p.last_name.to_owned(),
        mail: p.email.clone(),
        job_title: Some(p.title.to_owned()),
        phone: Some(p.phone.clone()),
        person: Some(index),
    })
}

/// The user an account key (alias) names; unknown aliases are users of the tenant's domain.
pub fn by_alias(alias: &str) -> User {
    if let Some(u) = population()
        .people
        .iter()
        .position(|p| alias_of(&p.email) == alias)
        .and_then(person)
    {
        return u;
    }
    let mail = format!("{alias}@{TENANT_DOMAIN}");
    User {
        alias: alias.to_owned(),
        id: object_id(&mail),
        display_name: alias.to_owned(),
        given_name: alias.to_owned(),
        surname: String::new(),
        mail,
        job_title: None,
        phone: None,
        person: None,
    }
}

/// A user by object id, userPrincipalName or mail (case-insensitive), as `/users/{id}` takes it.
pub fn lookup(key: &str) -> Option<User> {
    let key = key.trim_matches('\'').to_ascii_lowercase();
    if let Some(i) = population()
        .people
        .iter()
        .position(|p| p.email.eq_ignore_ascii_case(&key) || object_id(&p.email) == key)
    {
        return person(i);
    }
    key.strip_suffix(&format!("@{TENANT_DOMAIN}"))
        .filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(by_alias)
}

/// The user whose mailbox an address is, if it is in the tenant.
pub fn by_address(address: &str) -> Option<User> {
    lookup(address)
}

impl User {
    pub fn to_json(&self) -> Value {
        json!({
            "businessPhones": self.phone.iter().collect::<Vec<_>>(),
            "displayName": self.display_name,
            "givenName": self.given_name,
            "jobTitle": self.job_title,
            "mail": self.mail,
            "mobilePhone": Value::Null,
            "officeLocation": Value::Null,
            "preferredLanguage": "en-US",
            "surname": if self.surname.is_empty() { Value::Null } else { json!(self.surname) },
            "userPrincipalName": self.mail,
            "id": self.id,
        })
    }

    /// `{"emailAddress":{"name","address"}}`, as mail and events name people.
    pub fn recipient(&self) -> Value {
        json!({ "emailAddress": { "name": self.display_name, "address": self.mail } })
    }

    /// `from.user` of a chatMessage.
    pub fn chat_identity(&self) -> Value {
        json!({
            "application": Value::Null,
            "device": Value::Null,
            "user": {
                "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                "id": self.id,
                "displayName": self.display_name,
                "userIdentityType": "aadUser",
                "tenantId": TENANT_ID,
            }
        })
    }
}

/// `GET /me`: the signed-in user (`User.Read`).
pub async fn me(State(ctx): State<Ctx>, headers: HeaderMap) -> GraphResult {
    let admitted = admit(&ctx, &headers, Need::Me)?;
    let user = by_alias(&admitted.user);
    let mut body = user.to_json();
    body["@odata.context"] = json!(format!("{}/$metadata#users/$entity", graph_base(&ctx)));
    Ok(admitted.json(body))
}

/// `GET /users/{id | userPrincipalName}` (`User.ReadBasic.All` and up).
pub async fn get(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> GraphResult<Response> {
    let admitted = admit(&ctx, &headers, Need::Users)?;
    let user = lookup(&key).ok_or_else(|| {
        resource_not_found(format!(
            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        ))
    })?;
    let mut body = user.to_json();
    body["@odata.context"] = json!(format!("{}/$metadata#users/$entity", graph_base(&ctx)));
    Ok(admitted.json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_name_population_people_and_unknown_ones_join_the_tenant() {
        let ada = person(0).expect("a population");
        assert_eq!(by_alias(&ada.alias), ada);
        assert_eq!(lookup(&ada.mail.to_uppercase()), Some(ada.clone()));
        assert_eq!(lookup(&ada.id), Some(ada.clone()));
        let new = by_alias("newhire");
        assert_eq!(new.mail, format!("newhire@{TENANT_DOMAIN}"));
        assert_eq!(lookup(&new.mail), Some(new));
        assert_eq!(lookup("nobody@elsewhere.example"), None);
    }
}
