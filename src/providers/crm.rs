//! The CRM capability: the unified records (contact, lead, deal, company) both CRMs map to and
//! what a list, a write and a sync ask of an adapter (the core vocabulary's
//! `nexus_core::records::crm`), and the [`Crm`] trait HubSpot and Salesforce implement.

pub use nexus_core::Crm;
pub use nexus_core::records::crm::*;
pub use nexus_core::records::{ListPage, Position, Raw, Record};
