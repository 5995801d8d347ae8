//! A connection's channels with a value each, in a vector: most connections are in one to a
//! few channels, and every idle connection pays for its maps (a hash map's smallest table is
//! four slots; this is exactly what it holds). Lookups are linear, fine for the dozens of
//! channels a client subscribes to at most.

use crate::Channel;

/// Channels with a value each; insertion order kept.
#[derive(Debug, Clone)]
pub struct ChannelMap<V> {
    entries: Vec<(Channel, V)>,
}

impl<V> Default for ChannelMap<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<V> ChannelMap<V> {
    /// The value of `channel`.
    pub fn get(&self, channel: &Channel) -> Option<&V> {
        self.entries
            .iter()
            .find(|(c, _)| c == channel)
            .map(|(_, v)| v)
    }

    /// The value of `channel`, to change.
    pub fn get_mut(&mut self, channel: &Channel) -> Option<&mut V> {
        self.entries
            .iter_mut()
            .find(|(c, _)| c == channel)
            .map(|(_, v)| v)
    }

    /// Whether `channel` is in.
    pub fn contains(&self, channel: &Channel) -> bool {
        self.get(channel).is_some()
    }

    /// Sets the value of `channel`; returns the one it replaced.
    pub fn insert(&mut self, channel: Channel, value: V) -> Option<V> {
        if let Some(old) = self.get_mut(&channel) {
            return Some(std::mem::replace(old, value));
        }
        if self.entries.capacity() == 0 {
            // One slot: the common case is one channel.
            self.entries.reserve_exact(1);
        }
        self.entries.push((channel, value));
        None
    }

    /// Takes `channel` out.
    pub fn remove(&mut self, channel: &Channel) -> Option<V> {
        let index = self.entries.iter().position(|(c, _)| c == channel)?;
        let (_, value) = self.entries.swap_remove(index);
        if self.entries.is_empty() {
            // Give the allocation back: the connection may idle for hours.
            self.entries = Vec::new();
        }
        Some(value)
    }

    /// Every channel with its value.
    pub fn iter(&self) -> impl Iterator<Item = (&Channel, &V)> {
        self.entries.iter().map(|(c, v)| (c, v))
    }

    /// Every value.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// How many channels.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str) -> Channel {
        Channel::parse(name).expect("valid")
    }

    #[test]
    fn behaves_like_a_map() {
        let mut map = ChannelMap::default();
        assert_eq!(map.insert(channel("a"), 1), None);
        assert_eq!(map.insert(channel("b"), 2), None);
        assert_eq!(map.insert(channel("a"), 3), Some(1));
        assert_eq!(map.get(&channel("a")), Some(&3));
        assert_eq!(map.len(), 2);
        assert_eq!(map.remove(&channel("a")), Some(3));
        assert!(!map.contains(&channel("a")));
        assert_eq!(map.remove(&channel("b")), Some(2));
        assert!(map.is_empty());
        assert_eq!(map.remove(&channel("b")), None);
    }
}
