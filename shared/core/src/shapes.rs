//! The JSON Schema of each free-text field the parsers check (`parse_url`, `parse_prompt`,
//! `parse_file_name`, the id parsers), written once for the OpenAPI document: what a generated
//! client may send and be accepted. Where the parser takes more (URLs of any host, IDN names),
//! the schema names the common, always-accepted part.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::asset::ASSET_NAME_MAX_CHARS;
use crate::spec::{PROMPT_MAX_CHARS, URL_MAX_CHARS};

macro_rules! string_shape {
    ($(#[$meta:meta])* $name:ident { $($setting:ident($value:expr)),* $(,)? }) => {
        $(#[$meta])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new().schema_type(Type::String)$(.$setting(Some($value)))*.into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

string_shape!(
    /// An absolute http(s) URL (`parse_url`). The host ends in a name, not a number: the parser
    /// reads a trailing number as an IPv4 address.
    HttpUrl {
        description("An absolute http or https URL."),
        max_length(URL_MAX_CHARS),
        pattern(r"^https?://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?#][!-~]*)?$"),
    }
);

string_shape!(
    /// A webhook URL: https (`Egress::check_https`; plain http only where a deployment allows
    /// private addresses, for local testing).
    WebhookUrl {
        description("An https URL genrelay calls when the task ends (signed, retried)."),
        max_length(URL_MAX_CHARS),
        pattern(r"^https://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?#][!-~]*)?$"),
    }
);

string_shape!(
    /// A prompt (`parse_prompt`): not blank, at most `PROMPT_MAX_CHARS` characters.
    Prompt {
        description("What to generate; not blank."),
        min_length(1),
        max_length(PROMPT_MAX_CHARS),
        pattern(r"\S"),
    }
);

string_shape!(
    /// A file name (`parse_file_name`): no path, no control characters, not `.` or `..`.
    FileName {
        description("A file name: no path, no control characters, at most 200 characters and 255 bytes of UTF-8."),
        min_length(1),
        max_length(ASSET_NAME_MAX_CHARS),
        pattern(r"^(?!\.\.?$)[^/\\\u0000-\u001f\u007f-\u009f]+$"),
    }
);

string_shape!(
    /// An image to edit: an http(s) URL or the id of one of the caller's assets.
    UrlOrAssetId {
        max_length(URL_MAX_CHARS),
        pattern(r"^(https?://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?#][!-~]*)?|asset_[A-Za-z0-9_-]{1,58})$"),
    }
);

string_shape!(
    /// An asset id (`AssetId::parse`).
    AssetIdText {
        max_length(64),
        pattern(r"^asset_[A-Za-z0-9_-]+$"),
    }
);
