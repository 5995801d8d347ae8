//! The subscriptions of one session, in a vector sorted by channel.
//!
//! Most connections hold a handful of subscriptions, often one. A hash map allocates room for
//! several entries at the first insert (about 640 bytes with one subscription); an exact-size
//! sorted vector costs one entry, and binary search keeps lookups logarithmic up to
//! `client.channel_limit`.

use super::Subscription;

/// Channel name → subscription, sorted by channel.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    entries: Vec<(String, Subscription)>,
}

impl Subscriptions {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn contains_key(&self, channel: &str) -> bool {
        self.position(channel).is_ok()
    }

    pub(crate) fn get(&self, channel: &str) -> Option<&Subscription> {
        let index = self.position(channel).ok()?;
        Some(&self.entries[index].1)
    }

    pub(crate) fn get_mut(&mut self, channel: &str) -> Option<&mut Subscription> {
        let index = self.position(channel).ok()?;
        Some(&mut self.entries[index].1)
    }

    /// Adds or replaces the subscription to `channel`.
    pub(crate) fn insert(&mut self, channel: String, subscription: Subscription) {
        match self.position(&channel) {
            Ok(index) => self.entries[index].1 = subscription,
            Err(index) => {
                // Grow one entry at a time: a session rarely has more than a few.
                self.entries.reserve_exact(1);
                self.entries.insert(index, (channel, subscription));
            }
        }
    }

    pub(crate) fn remove(&mut self, channel: &str) -> Option<Subscription> {
        let index = self.position(channel).ok()?;
        let (_, subscription) = self.entries.remove(index);
        if self.entries.is_empty() {
            self.entries = Vec::new();
        }
        Some(subscription)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(channel, _)| channel)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Subscription> {
        self.entries.iter().map(|(_, subscription)| subscription)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Subscription)> {
        self.entries
            .iter()
            .map(|(channel, subscription)| (channel, subscription))
    }

    fn position(&self, channel: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(existing, _)| existing.as_str().cmp(channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn sub(presence: bool) -> Subscription {
        Subscription {
            presence,
            join_leave: false,
            chan_info: Bytes::new(),
            expire_at: None,
            refresh_by_proxy: false,
        }
    }

    #[test]
    fn behaves_like_a_map_and_stays_sorted() {
        let mut subs = Subscriptions::default();
        for channel in ["news", "chat", "zoo", "alpha"] {
            subs.insert(channel.to_owned(), sub(false));
        }
        subs.insert("chat".to_owned(), sub(true));
        assert_eq!(subs.len(), 4);
        assert!(subs.get("chat").is_some_and(|s| s.presence));
        assert_eq!(
            subs.keys().map(String::as_str).collect::<Vec<_>>(),
            ["alpha", "chat", "news", "zoo"]
        );
        assert!(subs.remove("news").is_some());
        assert!(subs.remove("news").is_none());
        assert!(!subs.contains_key("news"));
        for channel in ["alpha", "chat", "zoo"] {
            subs.remove(channel);
        }
        assert_eq!(subs.len(), 0);
        assert_eq!(subs.entries.capacity(), 0);
    }
}
