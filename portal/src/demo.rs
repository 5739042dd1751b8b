//! The offline demo's world: the fixture world's two snapshots (five Long Biên portals, a month
//! apart) embedded in the binary, and the configuration that points wardfeed at them.

use crate::{PortalError, Snapshot};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/demo_portal.rs"));
}

/// The configuration the demo runs: `config/fixtures.toml`, compiled in. Every site lives
/// under `${FIXTURES_BASE}`, the running portal's base URL.
pub const CONFIG_TEXT: &str = include_str!("../../config/fixtures.toml");

/// The variable `CONFIG_TEXT` reads the portal's base URL from.
pub const BASE_VARIABLE: &str = "FIXTURES_BASE";

/// The fixture world's "now" at the first snapshot, so that ages and weekly charts read as they
/// did then.
pub const FIRST_MOMENT: &str = "2023-02-06T08:00:00+07:00";

/// Which moment of the fixture world to serve: 6 Feb 2023 or a month later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    First,
    Later,
}

pub fn snapshot(moment: Moment) -> Result<Snapshot, PortalError> {
    let files = match moment {
        Moment::First => embedded::S1,
        Moment::Later => embedded::S2,
    };
    Snapshot::from_files(
        files
            .iter()
            .map(|(name, bytes)| (name.to_string(), bytes::Bytes::from_static(bytes))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_snapshots_are_embedded_and_load() {
        for moment in [Moment::First, Moment::Later] {
            let snapshot = snapshot(moment).unwrap();
            assert_eq!(snapshot.sites().len(), 5);
        }
        assert!(CONFIG_TEXT.contains("${FIXTURES_BASE}"));
        assert!(chrono::DateTime::parse_from_rfc3339(FIRST_MOMENT).is_ok());
    }
}
