//! Who a connection says it is: a presence subscription's `channel_data` and a sign-in's
//! `user_data`. Both are JSON strings the application's auth endpoint signed; they are read
//! only after the signature checks.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::ProtocolError;

/// Longest user id, in bytes (Pusher's presence limit).
pub const MAX_USER_ID_LEN: usize = 128;

/// A presence member: `{"user_id": "...", "user_info": {...}}`.
#[derive(Debug, Clone)]
pub struct PresenceMember {
    /// The user id; a number in the JSON is read as its decimal text, as the server
    /// libraries write ids they were given as numbers.
    pub user_id: String,
    /// `user_info` as the auth endpoint wrote it; `None` when absent or `null`.
    pub user_info: Option<Box<RawValue>>,
}

/// A sign-in's user: `{"id": "...", "user_info"?, "watchlist"?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserData {
    /// The user id: a non-empty string (pusher-js ignores a sign-in with any other `id`).
    pub id: String,
    /// `watchlist`: ids whose online status the user follows (at most 100).
    pub watchlist: Vec<String>,
}

impl PartialEq for PresenceMember {
    /// Raw `user_info` compares by its text.
    fn eq(&self, other: &Self) -> bool {
        self.user_id == other.user_id
            && self.user_info.as_ref().map(|info| info.get())
                == other.user_info.as_ref().map(|info| info.get())
    }
}

#[derive(Deserialize)]
struct RawMember {
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default)]
    user_info: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    watchlist: Option<Vec<String>>,
}

/// Most ids a watchlist may hold (Pusher's limit; past it 4302).
const MAX_WATCHLIST: usize = 100;

impl PresenceMember {
    /// Reads `channel_data`.
    pub fn parse(channel_data: &str) -> Result<Self, ProtocolError> {
        let invalid = |why: String| ProtocolError::InvalidChannelData(why);
        let raw: RawMember =
            serde_json::from_str(channel_data).map_err(|e| invalid(e.to_string()))?;
        let user_id = match raw.user_id {
            Some(Value::String(id)) => id,
            Some(Value::Number(id)) => id.to_string(),
            _ => return Err(invalid("user_id must be a string or a number".to_owned())),
        };
        check_user_id(&user_id).map_err(invalid)?;
        let user_info = raw.user_info.filter(|info| info.get() != "null");
        Ok(Self { user_id, user_info })
    }
}

impl UserData {
    /// Reads `user_data`.
    pub fn parse(user_data: &str) -> Result<Self, ProtocolError> {
        let invalid = |why: String| ProtocolError::InvalidUserData(why);
        let raw: RawUser = serde_json::from_str(user_data).map_err(|e| invalid(e.to_string()))?;
        let Some(Value::String(id)) = raw.id else {
            return Err(invalid("id must be a string".to_owned()));
        };
        check_user_id(&id).map_err(invalid)?;
        let watchlist = raw.watchlist.unwrap_or_default();
        if watchlist.len() > MAX_WATCHLIST {
            return Err(invalid(format!(
                "watchlist holds {} ids, at most {MAX_WATCHLIST}",
                watchlist.len()
            )));
        }
        Ok(Self { id, watchlist })
    }
}

fn check_user_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the user id is empty".to_owned());
    }
    if id.len() > MAX_USER_ID_LEN {
        return Err(format!(
            "the user id has {} bytes, at most {MAX_USER_ID_LEN}",
            id.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members() {
        let m =
            PresenceMember::parse(r#"{"user_id":"u1","user_info":{"name":"A"}}"#).expect("valid");
        assert_eq!(m.user_id, "u1");
        assert_eq!(m.user_info.expect("info").get(), r#"{"name":"A"}"#);

        let m = PresenceMember::parse(r#"{"user_id":42}"#).expect("valid");
        assert_eq!(m.user_id, "42");
        assert!(m.user_info.is_none());
        let m = PresenceMember::parse(r#"{"user_id":"x","user_info":null}"#).expect("valid");
        assert!(m.user_info.is_none());

        for bad in [
            "",
            "{}",
            r#"{"user_id":""}"#,
            r#"{"user_id":true}"#,
            r#"{"user_id":{}}"#,
            &format!(r#"{{"user_id":"{}"}}"#, "x".repeat(MAX_USER_ID_LEN + 1)),
        ] {
            assert!(PresenceMember::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users() {
        let u =
            UserData::parse(r#"{"id":"u1","user_info":{},"watchlist":["a","b"]}"#).expect("valid");
        assert_eq!(u.id, "u1");
        assert_eq!(u.watchlist, ["a", "b"]);
        for bad in [
            r#"{"id":1}"#,
            r#"{"id":""}"#,
            "{}",
            "[]",
            r#"{"id":"a","watchlist":[1]}"#,
        ] {
            assert!(UserData::parse(bad).is_err(), "{bad}");
        }
        let long: Vec<String> = (0..=MAX_WATCHLIST).map(|i| i.to_string()).collect();
        let data = serde_json::json!({ "id": "u", "watchlist": long }).to_string();
        assert!(UserData::parse(&data).is_err());
    }
}
