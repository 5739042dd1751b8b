//! Placeholder: the OPML renderer is being written on its own branch.

use super::Outline;

pub fn render(outline: &Outline) -> String {
    let _ = outline;
    String::new()
}
