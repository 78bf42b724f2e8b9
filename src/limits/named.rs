//! Connections with capacities of their own. Config names a connection the way people know it,
//! `<project>/<user email>` (`providers.hubspot.connections."acme/ada@acme.com"`), while calls
//! carry the connection's ids; the name of each connection a call comes from is looked up once
//! and kept, and only for providers that have such overrides.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sea_orm::{DatabaseConnection, DbErr, EntityTrait};

use crate::store::entities::{projects, users};

use super::Key;

/// Checks a connection's name in config: a project and an email, around one `/`.
pub fn parse(name: &str) -> Result<(), String> {
    match name.split_once('/') {
        Some((project, user)) if !project.trim().is_empty() && user.contains('@') => Ok(()),
        _ => Err(format!(
            "connection `{name}`: name it as `<project>/<user email>`"
        )),
    }
}

/// A connection's name as compared: the email's case and stray spaces do not count.
pub fn normalized(name: &str) -> String {
    match name.split_once('/') {
        Some((project, user)) => format!("{}/{}", project.trim(), user.trim().to_lowercase()),
        None => name.trim().to_owned(),
    }
}

/// The names of connections, by their ids.
pub struct Names {
    db: DatabaseConnection,
    known: Mutex<HashMap<Key, Arc<str>>>,
}

impl Names {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            known: Mutex::default(),
        }
    }

    /// `<project>/<user email>` of the connection `key`.
    pub async fn of(&self, key: Key) -> Result<Arc<str>, DbErr> {
        if let Some(name) = self.known.lock().expect("names").get(&key) {
            return Ok(name.clone());
        }
        let (user_id, project_id) = key;
        let user = users::Entity::find_by_id(user_id).one(&self.db).await?;
        let project = projects::Entity::find_by_id(project_id)
            .one(&self.db)
            .await?;
        let (Some(user), Some(project)) = (user, project) else {
            return Err(DbErr::RecordNotFound(format!(
                "the connection of user {user_id} in project {project_id}"
            )));
        };
        let name: Arc<str> = normalized(&format!("{}/{}", project.name, user.email)).into();
        self.known.lock().expect("names").insert(key, name.clone());
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::{normalized, parse};

    #[test]
    fn a_connection_is_named_by_project_and_email() {
        assert!(parse("acme/ada@acme.test").is_ok());
        assert_eq!(normalized(" acme / Ada@Acme.test"), "acme/ada@acme.test");
        for bad in ["acme", "acme/ada", "/ada@acme.test", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
