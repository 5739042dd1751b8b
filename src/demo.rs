//! The offline demo: the fixture world (five Long Biên portals, two snapshots a month apart)
//! embedded in the binary and served on loopback, with the fixture configuration pointed at it.

use crate::config::{self, Config, ConfigError};
use crate::portal::{PortalError, Snapshot};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/demo_portal.rs"));
}

/// The configuration the demo runs: `config/fixtures.toml`, compiled in.
pub const CONFIG_TEXT: &str = include_str!("../config/fixtures.toml");

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

/// The demo configuration with every site under `portal_base`; other variables resolve from
/// `lookup` (so `WARDFEED_STORE` and friends still work).
pub fn config(
    portal_base: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    config::parse(CONFIG_TEXT, "(built-in demo config)", &|name| match name {
        "FIXTURES_BASE" => Some(portal_base.to_owned()),
        other => lookup(other),
    })
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
        assert_eq!(
            config("http://127.0.0.1:1", &|_| None)
                .unwrap()
                .sources
                .len(),
            5
        );
    }
}
