//! The size of each function binary as built (stripped, by the release profile): what Lambda
//! loads at every cold start.

use std::path::Path;

use crate::report::{Bound, Figure};

/// The function binaries the template deploys.
pub const FUNCTIONS: [&str; 11] = [
    "genrelay-api-jobs",
    "genrelay-api-meta",
    "genrelay-api-docs",
    "genrelay-api-assets",
    "genrelay-api-inference",
    "genrelay-api-ps-tasks",
    "genrelay-api-jimeng-async",
    "genrelay-worker",
    "genrelay-poller",
    "genrelay-webhooks",
    "genrelay-admin",
];

const SIZE_BUDGET_MIB: f64 = 10.0;

pub fn measure(binaries: &Path) -> Vec<Figure> {
    FUNCTIONS
        .iter()
        .map(|name| {
            let bytes = std::fs::metadata(binaries.join(name))
                .map(|m| m.len())
                .unwrap_or_else(|_| panic!("{name} is not built in {}; bench/run.sh builds it", binaries.display()));
            Figure {
                section: "binary size",
                name: (*name).to_owned(),
                value: bytes as f64 / (1024.0 * 1024.0),
                unit: "MiB",
                budget: Some((Bound::AtMost, SIZE_BUDGET_MIB)),
                how: "stripped release binary".to_owned(),
            }
        })
        .collect()
}
