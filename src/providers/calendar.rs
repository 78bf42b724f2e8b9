//! The calendar capability: the unified event both Google Calendar and Outlook map to, what a
//! list and a write ask of an adapter, and `Gather`, which both use to page exactly (the core
//! vocabulary's `nexus_core::records::calendar`); and the [`Calendar`] trait they implement.

pub use nexus_core::Calendar;
pub use nexus_core::records::calendar::*;
pub use nexus_core::records::{ListPage, Position, Record};
