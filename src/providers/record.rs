//! What every capability's records share: a provider record with its payload, the keyset a list
//! pages on, and a change feed's entries. They are the core vocabulary's
//! (`nexus_core::records`), named here too so the providers and the schema keep one path.

pub use nexus_core::records::{
    ChangeKind, Feed, FeedChange, Fetch, ListPage, Order, Position, Raw, Record, Sent, Sorted,
    page_after,
};
