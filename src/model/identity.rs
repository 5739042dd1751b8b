//! The one rule for what makes two sightings the same item — on listing pages and in feeds,
//! across refreshes and across versions of wardfeed.
//!
//! 1. An entry's identity is its canonical URL (`normalize::canonical_url`: scheme and host
//!    lower-cased, default port, fragment and filtered parameters dropped).
//! 2. Entries of one document (a listing page, a feed) that share a canonical URL but differ
//!    (in fragment or in guid) are distinct items, never merged: each is then told apart by
//!    its URL with its fragment (`…/diary/?200601a#200601033`) where the fragment is its own
//!    in that document, else by its guid (`guid:…`), else by both. Its URL keeps the fragment.
//! 3. An entry without a link is `guid:` its feed id; one with neither is skipped, with a
//!    warning.
//! 4. What the store already holds wins: an entry that an earlier refresh or an earlier
//!    version stored under another identity (the plain URL, before its document held a
//!    second entry on that URL; the link wardfeed took before issue 10) keeps that identity
//!    and its stored URL, as long as the stored item is this entry (same guid, or same title
//!    where there is no guid). So an upgrade duplicates nothing.
//!
//! An item's key is `ItemKey::derive(source, identity)`. A rendered entry's id is the item's
//! URL when the key derives from it, else a `urn:uuid:` of the key.

use std::collections::BTreeSet;

use super::Item;

/// What the pipeline decided an item's identity is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// What the key derives from.
    pub current: String,
    /// Identities the same entry had under earlier rules, which the store may hold it under.
    pub earlier: Vec<String>,
}

/// One entry of one document, as the rule sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sighting<'a> {
    /// The canonical form of its link, without a fragment.
    pub canonical: Option<&'a str>,
    /// The fragment of its link, if it had a non-empty one.
    pub fragment: Option<&'a str>,
    pub guid: Option<&'a str>,
    /// The canonical link an earlier version of wardfeed took for it, when that was another
    /// (`Some(None)`: it took none).
    pub earlier: Option<Option<&'a str>>,
}

/// The decision for one sighting: the URL the item is stored with, and its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The canonical link, with its fragment where rule 2 applies; empty without a link.
    pub url: String,
    pub identity: Identity,
}

/// Applies rules 1–3 to every entry of one document, in order; `None` for an entry with
/// neither link nor guid.
pub fn identities(document: &[Sighting<'_>]) -> Vec<Option<Decided>> {
    document
        .iter()
        .map(|sighting| decide(sighting, document))
        .collect()
}

fn decide(sighting: &Sighting<'_>, document: &[Sighting<'_>]) -> Option<Decided> {
    let fragment = sighting.fragment.unwrap_or("");
    let guid = sighting.guid.unwrap_or("");
    let mut decided = match sighting.canonical {
        Some(canonical) => {
            // The distinct entries on this URL: (fragment, guid) pairs.
            let group: BTreeSet<(&str, &str)> = document
                .iter()
                .filter(|other| other.canonical == Some(canonical))
                .map(|other| (other.fragment.unwrap_or(""), other.guid.unwrap_or("")))
                .collect();
            let with_fragment = if fragment.is_empty() {
                canonical.to_owned()
            } else {
                format!("{canonical}#{fragment}")
            };
            if group.len() <= 1 {
                Decided {
                    url: canonical.to_owned(),
                    identity: plain(canonical.to_owned()),
                }
            } else {
                let alone = |same: &dyn Fn(&(&str, &str)) -> bool| {
                    group.iter().filter(|p| same(p)).count() == 1
                };
                let current = if alone(&|(f, _)| *f == fragment) {
                    with_fragment.clone()
                } else if !guid.is_empty() && alone(&|(_, g)| *g == guid) {
                    format!("guid:{guid}")
                } else {
                    format!("{with_fragment} guid:{guid}")
                };
                Decided {
                    url: with_fragment,
                    identity: Identity {
                        // Before this rule, the whole group was one item on the plain URL.
                        earlier: vec![canonical.to_owned()],
                        current,
                    },
                }
            }
        }
        None if !guid.is_empty() => Decided {
            url: String::new(),
            identity: plain(format!("guid:{guid}")),
        },
        None => return None,
    };
    if let Some(earlier) = sighting.earlier {
        let earlier = match (earlier, guid) {
            (Some(link), _) => link.to_owned(),
            (None, "") => String::new(),
            (None, guid) => format!("guid:{guid}"),
        };
        if !earlier.is_empty()
            && earlier != decided.identity.current
            && !decided.identity.earlier.contains(&earlier)
        {
            decided.identity.earlier.push(earlier);
        }
    }
    Some(decided)
}

fn plain(current: String) -> Identity {
    Identity {
        current,
        earlier: Vec::new(),
    }
}

impl Item {
    /// What the item's key derives from: the pipeline's decision, or for an item made by hand
    /// its URL (`guid:` its guid when it has no URL).
    pub fn identity(&self) -> String {
        if !self.identity.current.is_empty() {
            return self.identity.current.clone();
        }
        match &self.guid {
            Some(guid) if self.url.is_empty() => format!("guid:{guid}"),
            _ => self.url.clone(),
        }
    }

    /// Rule 4: `held` looks an identity up in the store. An item the store does not hold
    /// under its identity, but holds under an earlier one as this same entry, takes that
    /// identity back, and the URL it was stored with.
    pub fn settle_identity<E>(
        &mut self,
        held: impl Fn(&str) -> Result<Option<Item>, E>,
    ) -> Result<(), E> {
        let current = self.identity();
        if self.identity.earlier.is_empty() || held(&current)?.is_some() {
            return Ok(());
        }
        for earlier in &self.identity.earlier {
            if let Some(stored) = held(earlier)?
                && self.is_same_entry_as(&stored)
            {
                // A stored URL is the entry's id in every feed served so far: it stays. A
                // stored item without one (a guid permalink the old rule did not follow) now
                // gets its link; its id, a `urn:uuid:` of the key, does not change.
                if !stored.url.is_empty() {
                    self.url = stored.url;
                }
                self.identity = Identity {
                    current: earlier.clone(),
                    earlier: Vec::new(),
                };
                return Ok(());
            }
        }
        Ok(())
    }

    /// Whether a stored item is this entry: the same guid, or the same title where neither
    /// has a guid.
    fn is_same_entry_as(&self, stored: &Item) -> bool {
        match (&stored.guid, &self.guid) {
            (Some(stored), Some(this)) => stored == this,
            (None, None) => stored.title == self.title,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting<'a>(
        canonical: &'a str,
        fragment: Option<&'a str>,
        guid: Option<&'a str>,
    ) -> Sighting<'a> {
        Sighting {
            canonical: Some(canonical),
            fragment,
            guid,
            earlier: None,
        }
    }

    fn current(decided: &[Option<Decided>]) -> Vec<&str> {
        decided
            .iter()
            .map(|d| d.as_ref().map_or("-", |d| d.identity.current.as_str()))
            .collect()
    }

    #[test]
    fn a_link_alone_in_its_document_is_its_canonical_url() {
        let decided = identities(&[
            sighting("http://h/a", Some("top"), Some("1")),
            sighting("http://h/b", None, None),
            // The same entry twice in one feed is one item.
            sighting("http://h/b", None, None),
        ]);
        assert_eq!(
            current(&decided),
            ["http://h/a", "http://h/b", "http://h/b"]
        );
        assert_eq!(decided[0].as_ref().unwrap().url, "http://h/a");
        assert!(decided[0].as_ref().unwrap().identity.earlier.is_empty());
    }

    #[test]
    fn entries_told_apart_by_fragment_are_never_merged() {
        let diary = "http://h/diary/?200601a";
        let decided = identities(&[
            sighting(diary, Some("200601033"), Some("a")),
            sighting(diary, Some("200601032"), Some("b")),
            sighting(diary, None, Some("c")),
        ]);
        assert_eq!(
            current(&decided),
            [
                "http://h/diary/?200601a#200601033",
                "http://h/diary/?200601a#200601032",
                "http://h/diary/?200601a"
            ]
        );
        let first = decided[0].as_ref().unwrap();
        assert_eq!(first.url, "http://h/diary/?200601a#200601033");
        assert_eq!(first.identity.earlier, [diary]);
    }

    #[test]
    fn entries_sharing_a_link_are_told_apart_by_guid() {
        // A feed whose every item links to the portal's home page.
        let decided = identities(&[
            sighting("http://h/", None, Some("917")),
            sighting("http://h/", None, Some("918")),
            sighting("http://h/", Some("x"), Some("919")),
            sighting("http://h/", Some("x"), Some("920")),
        ]);
        assert_eq!(
            current(&decided),
            ["guid:917", "guid:918", "guid:919", "guid:920"]
        );
        // Neither tells them apart alone: both together do.
        let decided = identities(&[
            sighting("http://h/", Some("x"), Some("1")),
            sighting("http://h/", Some("x"), Some("2")),
            sighting("http://h/", Some("y"), Some("1")),
        ]);
        assert_eq!(
            current(&decided),
            ["http://h/#x guid:1", "guid:2", "http://h/#y"]
        );
    }

    #[test]
    fn without_a_link_the_guid_and_without_both_nothing() {
        let decided = identities(&[
            Sighting {
                guid: Some("917"),
                ..Sighting::default()
            },
            Sighting::default(),
        ]);
        assert_eq!(current(&decided), ["guid:917", "-"]);
    }

    #[test]
    fn an_earlier_versions_link_is_remembered() {
        let decided = identities(&[
            Sighting {
                canonical: Some("http://h/a"),
                guid: Some("http://h/a"),
                // Before issue 10 a guid permalink was no link: the item was "guid:…".
                earlier: Some(None),
                ..Sighting::default()
            },
            Sighting {
                canonical: Some("http://h/b"),
                earlier: Some(Some("http://h/b/comments")),
                ..Sighting::default()
            },
        ]);
        assert_eq!(
            decided[0].as_ref().unwrap().identity.earlier,
            ["guid:http://h/a"]
        );
        assert_eq!(
            decided[1].as_ref().unwrap().identity.earlier,
            ["http://h/b/comments"]
        );
    }
}
