//! What a watch stream watches, and the topics of the index it links
//! into: one per listed key, or one for a group, or one for a namespace.
//!
//! Topics are named by the escaped text of a groupKey (`dataId+group` or
//! `dataId+group+tenant`): a key's group topic is the text after its first
//! `+`, its namespace topic the text after its second. So the topics a
//! change concerns are slices of its groupKey: no parsing, no string built
//! per change (only a groupKey spelling a blank tenant, which stored keys
//! never do, costs one copy).

use super::TopicKind;
use crate::protocol::{self, canonical_tenant};
use std::borrow::Cow;

/// What a stream watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// These dataIds of one group.
    Keys {
        tenant: String,
        group: String,
        data_ids: Vec<String>,
    },
    /// Every config of a group, including ones created later.
    Group { tenant: String, group: String },
    /// Every config of a namespace, including ones created later.
    Namespace { tenant: String },
}

impl Scope {
    /// The topics this scope links into (built once, when the stream opens).
    pub(super) fn topics(&self) -> Vec<(TopicKind, String)> {
        match self {
            Scope::Keys {
                tenant,
                group,
                data_ids,
            } => data_ids
                .iter()
                .map(|d| (TopicKind::Key, protocol::group_key(d, group, tenant)))
                .collect(),
            Scope::Group { tenant, group } => {
                let gk = protocol::group_key("", group, tenant);
                let (group_text, _) = split(&gk);
                vec![(TopicKind::Group, group_text.into_owned())]
            }
            Scope::Namespace { tenant } => {
                let gk = protocol::group_key("", "G", tenant);
                let (_, tenant_text) = split(&gk);
                vec![(TopicKind::Namespace, tenant_text.to_owned())]
            }
        }
    }

    /// Whether the config (dataId, group, tenant) is in this scope.
    pub fn contains(&self, data_id: &str, group: &str, tenant: &str) -> bool {
        match self {
            Scope::Keys {
                tenant: t,
                group: g,
                data_ids,
            } => t == tenant && g == group && data_ids.iter().any(|d| d == data_id),
            Scope::Group {
                tenant: t,
                group: g,
            } => t == tenant && g == group,
            Scope::Namespace { tenant: t } => t == tenant,
        }
    }
}

/// The names of a groupKey's group topic and namespace topic: the escaped
/// text after its first `+` (with a blank tenant dropped) and after its
/// second (empty for the public namespace).
pub(super) fn split(group_key: &str) -> (Cow<'_, str>, &str) {
    let Some((_, rest)) = group_key.split_once('+') else {
        return (Cow::Borrowed(""), "");
    };
    match rest.split_once('+') {
        None => (Cow::Borrowed(rest), ""),
        // Escaping leaves blank, `public` and `null` as they are.
        Some((group, tenant)) if canonical_tenant(tenant).is_empty() => {
            (Cow::Owned(group.to_owned()), "")
        }
        Some(_) => (
            Cow::Borrowed(rest),
            rest.split_once('+').map_or("", |(_, t)| t),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_slices_of_the_group_key() {
        // (groupKey, its group topic, its namespace topic)
        let cases = [
            ("a+G", "G", ""),
            ("a+G+dev", "G+dev", "dev"),
            ("a%2Bb+G%25+t%2B1", "G%25+t%2B1", "t%2B1"),
            ("a+G+public", "G", ""),
            ("+G", "G", ""),
            ("nogroup", "", ""),
        ];
        for (gk, group, ns) in cases {
            let (g, n) = split(gk);
            assert_eq!((&*g, n), (group, ns), "{gk}");
        }
    }

    #[test]
    fn a_scope_names_the_topics_its_changes_slice_to() {
        let cases = [("a+b", "G%", "t+1"), ("a", "DEFAULT_GROUP", "")];
        for (d, g, t) in cases {
            let gk = protocol::group_key(d, g, t);
            let (group_text, tenant_text) = split(&gk);
            let keys = Scope::Keys {
                tenant: t.into(),
                group: g.into(),
                data_ids: vec![d.into()],
            };
            assert_eq!(keys.topics(), vec![(TopicKind::Key, gk.clone())]);
            let group = Scope::Group {
                tenant: t.into(),
                group: g.into(),
            };
            assert_eq!(
                group.topics(),
                vec![(TopicKind::Group, group_text.into_owned())]
            );
            let ns = Scope::Namespace { tenant: t.into() };
            assert_eq!(
                ns.topics(),
                vec![(TopicKind::Namespace, tenant_text.to_owned())]
            );
            assert!(
                keys.contains(d, g, t) && group.contains("x", g, t) && ns.contains("x", "y", t)
            );
            assert!(!keys.contains("other", g, t) && !group.contains(d, "H", t));
        }
    }
}
