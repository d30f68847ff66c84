//! The style catalog and Meitu presets operators manage from the back office: one document in
//! the store, changed only if it is unchanged since it was read (else read and changed again),
//! so ids stay unique and no operator's change is lost.

use genrelay_core::styles::{STYLE_CATALOG_DOCUMENT, StyleCatalog, StyleChoice};
use genrelay_core::{Error, Result};

use crate::Engine;

/// Tries of a change that raced other operators' (each round, one of the racing changes lands).
const CHANGE_ATTEMPTS: usize = 16;

impl Engine {
    /// The catalog as stored (empty until something is added).
    pub async fn style_catalog(&self) -> Result<StyleCatalog> {
        match self.deps.documents.document(STYLE_CATALOG_DOCUMENT).await? {
            Some(document) => StyleCatalog::from_document(document),
            None => Ok(StyleCatalog::default()),
        }
    }

    /// The catalog's style a job names by `code`, if it names one (a 400 when none is coded so).
    pub async fn style_choice(&self, code: Option<&str>) -> Result<Option<StyleChoice>> {
        match code {
            Some(code) => Ok(Some(self.style_catalog().await?.choose(code)?)),
            None => Ok(None),
        }
    }

    /// Applies `change` to the stored catalog and stores it; `change` refusing stores nothing.
    pub async fn change_style_catalog<T>(&self, change: impl Fn(&mut StyleCatalog) -> Result<T>) -> Result<T> {
        for _ in 0..CHANGE_ATTEMPTS {
            let before = self.deps.documents.document(STYLE_CATALOG_DOCUMENT).await?;
            let mut catalog = match &before {
                Some(document) => StyleCatalog::from_document(document.clone())?,
                None => StyleCatalog::default(),
            };
            let changed = change(&mut catalog)?;
            let after = catalog.to_document();
            if self.deps.documents.replace_document(STYLE_CATALOG_DOCUMENT, before.as_ref(), &after).await? {
                return Ok(changed);
            }
        }
        Err(Error::Conflict("the style catalog was changed by someone else at the same time; try again".into()))
    }
}
