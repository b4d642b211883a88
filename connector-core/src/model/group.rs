//! Groups of identical VMs kept at a given size.

use super::{
    NetworkId, OwnerId, Size, Tags, Vm, VmSpec, VmState, client_token, validate_label,
    validate_user_tags,
};
use crate::error::Error;
use serde::{Deserialize, Serialize};

/// What every member of a group looks like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// Group name (a label of at most 50 characters, leaving room for member suffixes).
    pub name: String,
    /// Member size.
    pub size: Size,
    /// Member image.
    pub image: String,
    /// Member network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkId>,
    /// User tags on every member.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// Longest group name: member names append `-` and up to 12 characters.
pub const MAX_GROUP_NAME_LEN: usize = 50;

impl GroupSpec {
    /// Checks what every cloud requires.
    pub fn validate(&self) -> Result<(), Error> {
        validate_label("group", &self.name, MAX_GROUP_NAME_LEN)?;
        self.member_spec(0).validate()?;
        validate_user_tags(&self.tags)
    }

    /// The spec of member number `ordinal`. Members are named `GROUP-ORDINAL`, so the same
    /// member always has the same token and a retried scale never doubles a member.
    pub fn member_spec(&self, ordinal: u32) -> VmSpec {
        VmSpec {
            network: self.network.clone(),
            tags: self.tags.clone(),
            group: Some(self.name.clone()),
            ..VmSpec::new(
                format!("{}-{ordinal}", self.name),
                self.size.clone(),
                &self.image,
            )
        }
    }

    /// A token identifying this template (members of an older template are replaced first on
    /// scale-down and can be told apart in a rolling upgrade).
    pub fn template_token(&self, owner: &OwnerId) -> String {
        client_token(owner, "group", self)
    }
}

/// Parses a member's ordinal out of its name.
pub fn member_ordinal(group: &str, vm_name: &str) -> Option<u32> {
    vm_name.strip_prefix(group)?.strip_prefix('-')?.parse().ok()
}

/// Overall state of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    /// Every member is running and the count is as asked.
    Stable,
    /// Members are still being created or deleted.
    Scaling,
    /// Some member failed.
    Degraded,
}

/// A group as the cloud reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Size asked for, when the cloud records one (native groups); else the live member count.
    pub desired: u32,
    /// Live members, ordered by name.
    pub members: Vec<Vm>,
}

impl Group {
    /// Builds a group from its members, sorting them by ordinal.
    pub fn new(name: impl Into<String>, desired: u32, mut members: Vec<Vm>) -> Self {
        let name = name.into();
        members.sort_by_key(|m| {
            (
                member_ordinal(&name, &m.name).unwrap_or(u32::MAX),
                m.name.clone(),
            )
        });
        Self {
            name,
            desired,
            members,
        }
    }

    /// Members that are running.
    pub fn ready(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.state == VmState::Running)
            .count()
    }

    /// The group's overall state.
    pub fn state(&self) -> GroupState {
        if self.members.iter().any(|m| m.state == VmState::Failed) {
            GroupState::Degraded
        } else if self.members.len() == self.desired as usize && self.ready() == self.members.len()
        {
            GroupState::Stable
        } else {
            GroupState::Scaling
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Ownership, VmId};
    use chrono::Utc;

    fn spec() -> GroupSpec {
        GroupSpec {
            name: "web".into(),
            size: Size::shape(1, 1024),
            image: "img-1".into(),
            network: None,
            tags: Tags::new(),
        }
    }

    fn member(name: &str, state: VmState) -> Vm {
        Vm {
            id: VmId::new(format!("id-{name}")),
            name: name.into(),
            state,
            size: Size::shape(1, 1024),
            image: "img-1".into(),
            private_ip: None,
            public_ip: None,
            nics: vec![],
            tags: Tags::new(),
            ownership: Ownership {
                owner: OwnerId::new("o").unwrap(),
                group: Some("web".into()),
                token: String::new(),
            },
            created_at: Utc::now(),
            host: None,
        }
    }

    #[test]
    fn members_are_named_by_ordinal_and_read_back() {
        let m = spec().member_spec(12);
        assert_eq!(
            (m.name.as_str(), m.group.as_deref()),
            ("web-12", Some("web"))
        );
        assert_eq!(member_ordinal("web", "web-12"), Some(12));
        for other in ["web", "web-", "web-x", "web-1-2", "webby-1", "api-1"] {
            assert_eq!(member_ordinal("web", other), None, "{other}");
        }
        // The same ordinal is the same request (a retried scale never doubles a member).
        let owner = OwnerId::new("o").unwrap();
        assert_eq!(
            spec().member_spec(3).client_token(&owner),
            spec().member_spec(3).client_token(&owner)
        );
        assert_ne!(
            spec().member_spec(3).client_token(&owner),
            spec().member_spec(4).client_token(&owner)
        );
    }

    #[test]
    fn the_template_token_changes_with_the_template_only() {
        let owner = OwnerId::new("o").unwrap();
        let t = spec().template_token(&owner);
        assert_eq!(spec().template_token(&owner), t);
        let new_image = GroupSpec {
            image: "img-2".into(),
            ..spec()
        };
        assert_ne!(new_image.template_token(&owner), t);
        assert_ne!(spec().template_token(&OwnerId::new("p").unwrap()), t);
    }

    #[test]
    fn members_sort_by_ordinal_and_the_state_follows_them() {
        use VmState::*;
        let g = Group::new(
            "web",
            3,
            vec![
                member("web-10", Running),
                member("web-2", Running),
                member("web-9", Pending),
            ],
        );
        let names: Vec<&str> = g.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["web-2", "web-9", "web-10"]);
        assert_eq!((g.ready(), g.state()), (2, GroupState::Scaling));

        let all_up = Group::new(
            "web",
            2,
            vec![member("web-0", Running), member("web-1", Running)],
        );
        assert_eq!(all_up.state(), GroupState::Stable);
        let too_many = Group::new("web", 1, all_up.members.clone());
        assert_eq!(too_many.state(), GroupState::Scaling);
        let failed = Group::new(
            "web",
            2,
            vec![member("web-0", Running), member("web-1", Failed)],
        );
        assert_eq!(failed.state(), GroupState::Degraded);
        assert_eq!(Group::new("web", 0, vec![]).state(), GroupState::Stable);
    }

    #[test]
    fn validation_names_the_field() {
        let long = GroupSpec {
            name: "g".repeat(MAX_GROUP_NAME_LEN + 1),
            ..spec()
        };
        assert_eq!(long.validate().unwrap_err().field(), Some("group"));
        let no_image = GroupSpec {
            image: " ".into(),
            ..spec()
        };
        assert_eq!(no_image.validate().unwrap_err().field(), Some("image"));
        spec().validate().unwrap();
    }
}
