//! Takes the two files the `/docs` page loads out of Swagger UI's release archive (the rest of
//! its dist, source maps and other bundles, is ten times their size and never served).

use std::io::Read;

/// Served under `/docs/ui/`.
const FILES: [&str; 2] = ["swagger-ui-bundle.js", "swagger-ui.css"];

fn main() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let archive = std::io::Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED);
    let mut archive = zip::ZipArchive::new(archive).expect("Swagger UI's archive is a zip");
    for file in FILES {
        // `swagger-ui-<version>/dist/<file>`
        let suffix = format!("/dist/{file}");
        let name = archive
            .file_names()
            .find(|name| name.ends_with(&suffix) && name.matches('/').count() == 2)
            .unwrap_or_else(|| panic!("Swagger UI's archive has no dist/{file}"))
            .to_owned();
        let mut bytes = Vec::new();
        archive.by_name(&name).and_then(|mut entry| Ok(entry.read_to_end(&mut bytes)?)).expect("the archive reads");
        std::fs::write(out.join(file), bytes).expect("OUT_DIR is writable");
    }
}
