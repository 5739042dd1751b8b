//! Placeholder: the atom renderer is being written on its own branch.

use super::Feed;

pub fn render(feed: &Feed) -> String {
    let _ = feed;
    String::new()
}
