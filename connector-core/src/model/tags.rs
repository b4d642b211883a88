//! Tags and the ownership tags every resource strato creates carries.
//!
//! The key names are chosen to be legal everywhere at once: AWS and Azure tags, GCP labels
//! (lowercase, digits, `-`, `_`, at most 63 characters), Kubernetes labels and vSphere custom
//! attributes. Owner ids and group names are validated against the same rules for the same reason.

use crate::error::{Error, ErrorKind, Operation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Tag key naming the owner (a strato installation or test run) of a resource.
pub const OWNER_TAG: &str = "strato-owner";
/// Tag key naming the group a VM belongs to.
pub const GROUP_TAG: &str = "strato-group";
/// Tag key carrying the client token of the create that made the resource.
pub const TOKEN_TAG: &str = "strato-token";
/// Tag key carrying the strato name of the resource (clouds that have no name field use it).
pub const NAME_TAG: &str = "strato-name";

/// Free-form key/value tags, ordered so that tokens derived from them are stable.
pub type Tags = BTreeMap<String, String>;

/// True for tag keys strato manages itself; users may not set them in a spec.
pub fn is_reserved_tag(key: &str) -> bool {
    key.starts_with("strato-")
}

/// Who owns a set of resources. Every connector is built for one owner and only ever lists,
/// changes or deletes resources carrying that owner's tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OwnerId(String);

impl OwnerId {
    /// Validates an owner id: 1 to 40 characters of `a-z`, `0-9` and `-`, starting with a letter.
    pub fn new(id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        validate_label("owner", &id, 40)?;
        Ok(Self(id))
    }

    /// The owner id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OwnerId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<OwnerId> for String {
    fn from(value: OwnerId) -> Self {
        value.0
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a name that must be a valid label on every cloud: 1..=max characters of lowercase
/// ASCII letters, digits and `-`, starting with a letter and not ending with `-`.
pub fn validate_label(field: &str, value: &str, max: usize) -> Result<(), Error> {
    let why = if value.is_empty() {
        Some("must not be empty".to_owned())
    } else if value.len() > max {
        Some(format!(
            "is {} characters long, the limit is {max}",
            value.len()
        ))
    } else if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("must start with a lowercase letter".to_owned())
    } else if value.ends_with('-') {
        Some("must not end with '-'".to_owned())
    } else {
        value
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
            .map(|c| format!("contains {c:?}; only a-z, 0-9 and '-' are allowed"))
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Error::new(
            ErrorKind::InvalidSpec,
            Operation::Validate,
            format!("{field} {value:?} {why}"),
        )
        .with_field(field)),
    }
}

/// The ownership tags of one resource, as read back from the cloud.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// The owner the resource belongs to.
    pub owner: OwnerId,
    /// The group, for group members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The client token of the create that made it.
    pub token: String,
}

impl Ownership {
    /// Reads the ownership tags out of a resource's tags; `None` when it is not strato's.
    pub fn from_tags(tags: &Tags) -> Option<Self> {
        let owner = OwnerId::new(tags.get(OWNER_TAG)?.clone()).ok()?;
        Some(Self {
            owner,
            group: tags.get(GROUP_TAG).cloned(),
            token: tags.get(TOKEN_TAG).cloned().unwrap_or_default(),
        })
    }

    /// Writes the ownership tags into a tag map (overwriting any user value of these keys).
    pub fn apply(&self, tags: &mut Tags) {
        tags.insert(OWNER_TAG.into(), self.owner.to_string());
        tags.insert(TOKEN_TAG.into(), self.token.clone());
        match &self.group {
            Some(g) => tags.insert(GROUP_TAG.into(), g.clone()),
            None => tags.remove(GROUP_TAG),
        };
    }
}

/// Checks user tags: no reserved keys, and keys/values every cloud accepts.
pub fn validate_user_tags(tags: &Tags) -> Result<(), Error> {
    for (k, v) in tags {
        if is_reserved_tag(k) {
            return Err(Error::new(
                ErrorKind::InvalidSpec,
                Operation::Validate,
                format!(
                    "tag key {k:?} is reserved: keys starting with 'strato-' are set by strato"
                ),
            )
            .with_field("tags"));
        }
        validate_label("tag key", k, 63)?;
        let ok = v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(Error::new(
                ErrorKind::InvalidSpec,
                Operation::Validate,
                format!(
                    "tag {k:?} has value {v:?}: at most 63 characters of a-z, 0-9, '-' and '_'"
                ),
            )
            .with_field("tags"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_strictest_cloud() {
        assert!(validate_label("name", "web-1", 63).is_ok());
        for bad in ["", "Web", "1web", "web-", "web_1", "web.1"] {
            let err = validate_label("name", bad, 63).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidSpec, "{bad}");
            assert!(err.to_string().contains("name"), "{err}");
        }
        assert!(validate_label("name", &"a".repeat(64), 63).is_err());
    }

    #[test]
    fn ownership_round_trips_through_tags() {
        let o = Ownership {
            owner: OwnerId::new("team-a").unwrap(),
            group: Some("web".into()),
            token: "abc".into(),
        };
        let mut tags = Tags::new();
        o.apply(&mut tags);
        assert_eq!(Ownership::from_tags(&tags), Some(o));
        assert_eq!(Ownership::from_tags(&Tags::new()), None);
    }

    #[test]
    fn reserved_tags_are_refused() {
        let tags = Tags::from([(OWNER_TAG.to_owned(), "x".to_owned())]);
        assert_eq!(
            validate_user_tags(&tags).unwrap_err().kind(),
            &ErrorKind::InvalidSpec
        );
    }
}
