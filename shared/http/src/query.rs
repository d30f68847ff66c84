//! Query strings of the list routes: every parameter is checked, unknown ones are refused, so a
//! typo never silently widens a list.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use genrelay_core::Cursor;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 200;

/// The query string as name/value pairs.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("Malformed query string: {}", e.body_text())))?;
        // An empty value (`status=`) means the parameter was not given, as UI forms send it.
        Ok(Self(pairs.into_iter().filter(|(_, value)| !value.is_empty()).collect()))
    }
}

/// Paging parameters shared by every list.
#[derive(Debug, Default)]
pub struct Paging {
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl Paging {
    /// Takes `limit` and `cursor` if `name` is one of them; returns whether it was.
    pub fn accept(&mut self, name: &str, value: &str) -> Result<bool, ApiError> {
        match name {
            "limit" => {
                self.limit = value.parse::<usize>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                    ApiError::bad_request(format!("limit: must be an integer from 1 to {MAX_LIMIT}, got {value:?}"))
                })?;
            }
            "cursor" => self.cursor = Some(Cursor::from_client(value)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

pub fn unknown_parameter(name: &str, known: &[&str]) -> ApiError {
    ApiError::bad_request(format!("{name}: unknown query parameter; expected {}", known.join(", ")))
}

impl QueryPairs {
    /// Checks that no parameter appears twice.
    pub fn unique(&self) -> Result<&[(String, String)], ApiError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if self.0[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::bad_request(format!("{name}: given more than once")));
            }
        }
        Ok(&self.0)
    }
}

pub fn new_paging() -> Paging {
    Paging { limit: DEFAULT_LIMIT, cursor: None }
}
