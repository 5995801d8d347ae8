//! Presence channels' members, from the hub's presence entries: one entry per connection
//! (client id, user id, `user_info` as the entry's channel info), one member per user.

use std::collections::HashMap;

use herald_engine::ClientInfo;
use serde_json::value::RawValue;

/// The members of a presence channel: each user once, with the `user_info` of one of its
/// connections, ordered by user id (so every node lists them alike).
pub(crate) fn members(present: &HashMap<String, ClientInfo>) -> Vec<(&str, Option<Box<RawValue>>)> {
    let mut members: Vec<(&str, Option<Box<RawValue>>)> = Vec::new();
    let mut entries: Vec<&ClientInfo> = present.values().collect();
    entries.sort_by(|a, b| a.user.cmp(&b.user).then(a.client.cmp(&b.client)));
    for entry in entries {
        if members.last().is_some_and(|(user, _)| *user == entry.user) {
            continue;
        }
        members.push((&entry.user, user_info(entry)));
    }
    members
}

/// How many distinct users are present.
pub(crate) fn count(present: &HashMap<String, ClientInfo>) -> usize {
    let mut users: Vec<&str> = present.values().map(|e| e.user.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    users.len()
}

/// Whether `user` is present through a connection other than `client`.
pub(crate) fn present_elsewhere(
    present: &HashMap<String, ClientInfo>,
    user: &str,
    client: &str,
) -> bool {
    present
        .values()
        .any(|entry| entry.user == user && entry.client != client)
}

/// The entry's `user_info`, as the member subscribed with it (`None`: it had none).
fn user_info(entry: &ClientInfo) -> Option<Box<RawValue>> {
    if entry.chan_info.is_empty() {
        return None;
    }
    serde_json::from_slice::<Box<RawValue>>(&entry.chan_info).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(client: &str, user: &str, info: &str) -> (String, ClientInfo) {
        let info = ClientInfo {
            client: client.to_owned(),
            user: user.to_owned(),
            chan_info: bytes::Bytes::copy_from_slice(info.as_bytes()),
            ..Default::default()
        };
        (client.to_owned(), info)
    }

    #[test]
    fn a_user_with_two_connections_is_one_member() {
        let present: HashMap<_, _> = [
            entry("1.2", "bob", r#"{"n":1}"#),
            entry("1.1", "bob", r#"{"n":2}"#),
            entry("2.1", "amy", ""),
        ]
        .into_iter()
        .collect();
        let members = members(&present);
        let ids: Vec<&str> = members.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, ["amy", "bob"]);
        assert!(members[0].1.is_none());
        // The lowest client id's info, whatever the map's order.
        assert_eq!(members[1].1.as_ref().map(|i| i.get()), Some(r#"{"n":2}"#));
        assert_eq!(count(&present), 2);
        assert!(present_elsewhere(&present, "bob", "1.1"));
        assert!(!present_elsewhere(&present, "amy", "2.1"));
    }
}
