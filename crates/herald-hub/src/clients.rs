//! The node's index of connected clients, by user: what the server API addresses ("disconnect
//! user 42", "subscribe this client of user 42") and what shutdown closes.
//!
//! It is the node's only per-connection index, and its entries are kept small: one map entry
//! per user, holding that user's single connection inline (the common case) or, boxed, a map of
//! several. A connection's id and user strings are shared with its session.

use std::collections::HashMap;
use std::sync::Arc;

use crate::outbox::Outbox;

/// Connected clients by user.
#[derive(Default)]
pub(crate) struct Clients {
    by_user: HashMap<Arc<str>, UserClients>,
    /// Connections in `by_user`.
    count: usize,
}

/// The connections of one user on this node.
// Boxed on purpose: the map's header would make every user's entry 16 bytes larger.
#[allow(clippy::box_collection)]
enum UserClients {
    One(Arc<str>, Arc<Outbox>),
    Many(Box<HashMap<Arc<str>, Arc<Outbox>>>),
}

/// A user already has `user_connection_limit` connections on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitReached;

impl Clients {
    /// Adds `client` of `user`, unless `user` (not anonymous) already has `limit` connections
    /// (0: no limit).
    pub(crate) fn insert(
        &mut self,
        client: &Arc<str>,
        user: &Arc<str>,
        outbox: &Arc<Outbox>,
        limit: usize,
    ) -> Result<(), LimitReached> {
        let existing = self.by_user.get(user).map_or(0, UserClients::len);
        if limit > 0 && !user.is_empty() && existing >= limit {
            return Err(LimitReached);
        }
        let (client, outbox) = (client.clone(), outbox.clone());
        let added = match self.by_user.get_mut(user) {
            Some(clients) => clients.insert(client, outbox),
            None => {
                self.by_user
                    .insert(user.clone(), UserClients::One(client, outbox));
                true
            }
        };
        self.count += usize::from(added);
        Ok(())
    }

    /// Removes `client` of `user`; returns its outbox when it was there.
    pub(crate) fn remove(&mut self, client: &Arc<str>, user: &str) -> Option<Arc<Outbox>> {
        let clients = self.by_user.get_mut(user)?;
        let (removed, now_empty) = clients.remove(client);
        self.count -= usize::from(removed.is_some());
        if now_empty {
            self.by_user.remove(user);
        }
        removed
    }

    /// Connections.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Users with at least one connection.
    pub(crate) fn users(&self) -> usize {
        self.by_user.len()
    }

    /// Every connection's queues.
    pub(crate) fn outboxes(&self) -> impl Iterator<Item = &Arc<Outbox>> {
        self.by_user
            .values()
            .flat_map(|clients| clients.iter().map(|(_, o)| o))
    }

    /// Every connection with its user and id.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<str>, &Arc<Outbox>)> {
        self.by_user
            .iter()
            .flat_map(|(user, clients)| clients.iter().map(move |(id, outbox)| (user, id, outbox)))
    }

    /// The connections of `user`, with their ids.
    pub(crate) fn of_user(&self, user: &str) -> impl Iterator<Item = (&Arc<str>, &Arc<Outbox>)> {
        self.by_user
            .get(user)
            .into_iter()
            .flat_map(UserClients::iter)
    }
}

impl UserClients {
    fn len(&self) -> usize {
        match self {
            Self::One(..) => 1,
            Self::Many(clients) => clients.len(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<Outbox>)> {
        let (one, many) = match self {
            Self::One(id, outbox) => (Some((id, outbox)), None),
            Self::Many(clients) => (None, Some(clients.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// Adds a connection; false when it was there already (its outbox is replaced).
    fn insert(&mut self, client: Arc<str>, outbox: Arc<Outbox>) -> bool {
        match self {
            Self::One(id, existing) if *id == client => {
                *existing = outbox;
                false
            }
            Self::One(id, existing) => {
                let first = (id.clone(), existing.clone());
                *self = Self::Many(Box::new(HashMap::from([first, (client, outbox)])));
                true
            }
            Self::Many(clients) => clients.insert(client, outbox).is_none(),
        }
    }

    /// Removes a connection: its outbox if it was there, and whether none is left.
    fn remove(&mut self, client: &Arc<str>) -> (Option<Arc<Outbox>>, bool) {
        match self {
            Self::One(id, outbox) => {
                let removed = id == client;
                (removed.then(|| outbox.clone()), removed)
            }
            Self::Many(clients) => {
                let removed = clients.remove(client);
                (removed, clients.is_empty())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_proto::Protocol;

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::new(Protocol::Json, 1024))
    }

    #[test]
    fn counts_connections_and_users_through_one_and_many() {
        let mut clients = Clients::default();
        let (alice, bob) = (Arc::from("alice"), Arc::from("bob"));
        let ids: Vec<Arc<str>> = ["c1", "c2", "c3"].into_iter().map(Arc::from).collect();
        clients
            .insert(&ids[0], &alice, &outbox(), 0)
            .expect("no limit");
        clients
            .insert(&ids[1], &alice, &outbox(), 0)
            .expect("no limit");
        clients
            .insert(&ids[2], &bob, &outbox(), 0)
            .expect("no limit");
        clients.insert(&ids[2], &bob, &outbox(), 0).expect("again");
        assert_eq!((clients.len(), clients.users()), (3, 2));
        let mut of_alice: Vec<&str> = clients.of_user("alice").map(|(id, _)| &**id).collect();
        of_alice.sort_unstable();
        assert_eq!(of_alice, ["c1", "c2"]);
        assert_eq!(clients.outboxes().count(), 3);

        clients.remove(&ids[0], "alice");
        clients.remove(&ids[0], "alice");
        clients.remove(&ids[2], "bob");
        assert_eq!((clients.len(), clients.users()), (1, 1));
        clients.remove(&ids[1], "alice");
        assert_eq!((clients.len(), clients.users()), (0, 0));
    }

    #[test]
    fn the_limit_counts_a_users_connections_but_not_anonymous_ones() {
        let mut clients = Clients::default();
        let (alice, anonymous) = (Arc::from("alice"), Arc::from(""));
        let ids: Vec<Arc<str>> = ["c1", "c2", "c3", "c4"]
            .into_iter()
            .map(Arc::from)
            .collect();
        clients
            .insert(&ids[0], &alice, &outbox(), 1)
            .expect("first");
        assert_eq!(
            clients.insert(&ids[1], &alice, &outbox(), 1),
            Err(LimitReached)
        );
        clients
            .insert(&ids[2], &anonymous, &outbox(), 1)
            .expect("anonymous");
        clients
            .insert(&ids[3], &anonymous, &outbox(), 1)
            .expect("anonymous");
        assert_eq!(clients.len(), 3);
    }
}
