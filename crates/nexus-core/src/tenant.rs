//! Who is asking, and for which connection.

use uuid::Uuid;

use crate::Provider;

/// Who is calling, and within which project. Every read and write is scoped by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tenant {
    pub user_id: Uuid,
    pub project_id: Uuid,
}

/// The connection a provider call is made for: a tenant's credentials at one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub tenant: Tenant,
    pub provider: Provider,
}
