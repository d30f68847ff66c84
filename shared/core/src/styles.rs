//! The studio's style catalog (seed 000's 风格分类 and 风格图片) and the Meitu presets that map a
//! Meitu preset code to a style category or a single style image, never both. Kept as one
//! configuration document, changed only if unchanged since read, so ids stay unique and two
//! operators never lose a change. Ids are numbers, as in the original.
//!
//! A job may name a style by its code (a style image's, else a category's): it inherits the
//! style's defaults (capability and prompt; a style image's own, else its category's) and keeps
//! the style with the Meitu preset that retouches its original first (see [`JobStyle`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::capability::Capability;
use crate::error::{Error, Result};
use crate::spec::parse_prompt;

/// The name of the catalog's document.
pub const STYLE_CATALOG_DOCUMENT: &str = "style-catalog";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StyleCatalog {
    #[serde(default)]
    pub categories: Vec<StyleCategory>,
    #[serde(default)]
    pub images: Vec<StyleImage>,
    #[serde(default)]
    pub presets: Vec<MeituPreset>,
    /// The last id given (ids are never reused).
    #[serde(default)]
    pub last_id: u64,
}

/// A style category (风格分类).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StyleCategory {
    pub id: u64,
    pub name: String,
    /// A short unique code, e.g. `portrait`.
    pub code: String,
    #[serde(default)]
    pub description: String,
    /// The cover image's URL.
    #[serde(default)]
    pub cover_url: Option<String>,
    /// What a job naming the style runs, unless it says: a capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<Capability>,
    /// What a job naming the style runs, unless it says: a prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default)]
    pub sort_order: i64,
    pub is_active: bool,
}

/// A style image (风格图片) of a category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StyleImage {
    pub id: u64,
    pub category_id: u64,
    pub name: String,
    pub code: String,
    #[serde(default)]
    pub description: String,
    /// The style's sample image URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// What a job naming the style runs, unless it says: a capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<Capability>,
    /// What a job naming the style runs, unless it says: a prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default)]
    pub sort_order: i64,
    pub is_active: bool,
}

/// A Meitu preset: a Meitu preset code mapped to a style category or to one style image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MeituPreset {
    pub id: u64,
    /// Meitu's preset code (`media_code`).
    pub preset_id: String,
    #[serde(default)]
    pub preset_name: String,
    #[serde(default)]
    pub description: String,
    pub style_category_id: Option<u64>,
    pub style_image_id: Option<u64>,
    pub is_active: bool,
}

/// A category as written by an operator (no id).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StyleCategoryInput {
    pub name: String,
    pub code: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub cover_url: Option<String>,
    /// The capability a job naming the style runs unless it says.
    #[serde(default)]
    pub capability: Option<Capability>,
    /// The prompt a job naming the style runs unless it says.
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub sort_order: i64,
    #[serde(default = "active")]
    pub is_active: bool,
}

/// A style image as written by an operator (no id).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StyleImageInput {
    pub category_id: u64,
    pub name: String,
    pub code: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub image_url: Option<String>,
    /// The capability a job naming the style runs unless it says.
    #[serde(default)]
    pub capability: Option<Capability>,
    /// The prompt a job naming the style runs unless it says.
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub sort_order: i64,
    #[serde(default = "active")]
    pub is_active: bool,
}

/// A Meitu preset as written by an operator (no id): exactly one of `style_category_id` and
/// `style_image_id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeituPresetInput {
    pub preset_id: String,
    #[serde(default)]
    pub preset_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub style_category_id: Option<u64>,
    #[serde(default)]
    pub style_image_id: Option<u64>,
    #[serde(default = "active")]
    pub is_active: bool,
}

/// The style a job named, as the job keeps it: which style, and the Meitu preset that
/// retouches the job's original before its own capability runs, when Meitu's
/// `enable_in_workflow` is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStyle {
    /// The code the job named it by.
    pub code: String,
    pub name: String,
    /// Meitu's preset code (`media_code`): the style image's own active preset, else its
    /// category's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meitu_preset: Option<String>,
}

/// A style a job named, resolved from the catalog: what the job keeps, and the defaults it
/// inherits where it says nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleChoice {
    pub style: JobStyle,
    pub capability: Option<Capability>,
    pub prompt: Option<String>,
}

fn active() -> bool {
    true
}

impl StyleCategoryInput {
    fn with_id(self, id: u64) -> StyleCategory {
        StyleCategory {
            id,
            name: self.name,
            code: self.code,
            description: self.description,
            cover_url: self.cover_url.filter(|url| !url.is_empty()),
            capability: self.capability,
            prompt: self.prompt.filter(|prompt| !prompt.trim().is_empty()),
            sort_order: self.sort_order,
            is_active: self.is_active,
        }
    }
}

impl StyleImageInput {
    fn with_id(self, id: u64) -> StyleImage {
        StyleImage {
            id,
            category_id: self.category_id,
            name: self.name,
            code: self.code,
            description: self.description,
            image_url: self.image_url.filter(|url| !url.is_empty()),
            capability: self.capability,
            prompt: self.prompt.filter(|prompt| !prompt.trim().is_empty()),
            sort_order: self.sort_order,
            is_active: self.is_active,
        }
    }
}

impl MeituPresetInput {
    /// `0` for a style id means none, as the original's forms send it.
    fn with_id(self, id: u64) -> MeituPreset {
        MeituPreset {
            id,
            preset_id: self.preset_id,
            preset_name: self.preset_name,
            description: self.description,
            style_category_id: self.style_category_id.filter(|id| *id != 0),
            style_image_id: self.style_image_id.filter(|id| *id != 0),
            is_active: self.is_active,
        }
    }
}

/// Seed 000's answers to a preset that maps to neither or to both.
pub const PRESET_NEEDS_A_STYLE: &str = "必须指定风格分类或风格图片";
pub const PRESET_TAKES_ONE_STYLE: &str = "不能同时指定风格分类和风格图片，请选择其一";

fn required(field: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(Error::invalid(format!("{field}: 1 to {max} characters")));
    }
    Ok(())
}

fn optional_url(field: &str, value: &Option<String>) -> Result<()> {
    match value {
        Some(url) if !url.is_empty() && url::Url::parse(url).is_err() => {
            Err(Error::invalid(format!("{field}: not a URL")))
        }
        _ => Ok(()),
    }
}

impl StyleCatalog {
    /// The catalog of a stored document.
    pub fn from_document(document: serde_json::Value) -> Result<Self> {
        serde_json::from_value(document).map_err(|e| Error::internal(format!("the stored style catalog: {e}")))
    }

    pub fn to_document(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a catalog is JSON")
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    pub fn category(&self, id: u64) -> Option<&StyleCategory> {
        self.categories.iter().find(|category| category.id == id)
    }

    pub fn image(&self, id: u64) -> Option<&StyleImage> {
        self.images.iter().find(|image| image.id == id)
    }

    pub fn preset(&self, id: u64) -> Option<&MeituPreset> {
        self.presets.iter().find(|preset| preset.id == id)
    }

    /// The active style coded `code`: a style image of an active category, else a category.
    /// Its defaults are a style image's own, else its category's.
    pub fn choose(&self, code: &str) -> Result<StyleChoice> {
        let preset_where = |mapped: &dyn Fn(&MeituPreset) -> bool| {
            self.presets.iter().find(|preset| preset.is_active && mapped(preset)).map(|p| p.preset_id.clone())
        };
        let active_category = |id: u64| self.category(id).filter(|category| category.is_active);
        let image = self.images.iter().find(|image| image.code == code && image.is_active);
        if let Some((image, category)) = image.and_then(|image| Some((image, active_category(image.category_id)?))) {
            let meitu_preset = preset_where(&|p| p.style_image_id == Some(image.id))
                .or_else(|| preset_where(&|p| p.style_category_id == Some(category.id)));
            return Ok(StyleChoice {
                style: JobStyle { code: image.code.clone(), name: image.name.clone(), meitu_preset },
                capability: image.capability.or(category.capability),
                prompt: image.prompt.clone().or_else(|| category.prompt.clone()),
            });
        }
        let category = self.categories.iter().find(|category| category.code == code && category.is_active);
        let Some(category) = category else {
            return Err(Error::invalid(format!("style: no active style image or category is coded {code:?}")));
        };
        Ok(StyleChoice {
            style: JobStyle {
                code: category.code.clone(),
                name: category.name.clone(),
                meitu_preset: preset_where(&|p| p.style_category_id == Some(category.id)),
            },
            capability: category.capability,
            prompt: category.prompt.clone(),
        })
    }

    fn check_category(&self, input: &StyleCategoryInput, id: Option<u64>) -> Result<()> {
        required("name", &input.name, 64)?;
        required("code", &input.code, 64)?;
        optional_url("cover_url", &input.cover_url)?;
        parse_prompt(input.prompt.clone().filter(|p| !p.trim().is_empty()), "prompt")?;
        if self.categories.iter().any(|c| c.code == input.code && Some(c.id) != id) {
            return Err(Error::Conflict(format!("code: a category is already coded {:?}", input.code)));
        }
        Ok(())
    }

    fn check_image(&self, input: &StyleImageInput, id: Option<u64>) -> Result<()> {
        required("name", &input.name, 64)?;
        required("code", &input.code, 64)?;
        optional_url("image_url", &input.image_url)?;
        parse_prompt(input.prompt.clone().filter(|p| !p.trim().is_empty()), "prompt")?;
        if self.category(input.category_id).is_none() {
            return Err(Error::invalid(format!("category_id: no category {}", input.category_id)));
        }
        if self.images.iter().any(|i| i.code == input.code && Some(i.id) != id) {
            return Err(Error::Conflict(format!("code: a style image is already coded {:?}", input.code)));
        }
        Ok(())
    }

    fn check_preset(&self, input: &MeituPresetInput) -> Result<()> {
        let category = input.style_category_id.filter(|id| *id != 0);
        let image = input.style_image_id.filter(|id| *id != 0);
        match (category, image) {
            (None, None) => return Err(Error::invalid(PRESET_NEEDS_A_STYLE)),
            (Some(_), Some(_)) => return Err(Error::invalid(PRESET_TAKES_ONE_STYLE)),
            (Some(id), None) if self.category(id).is_none() => {
                return Err(Error::invalid(format!("style_category_id: no category {id}")));
            }
            (None, Some(id)) if self.image(id).is_none() => {
                return Err(Error::invalid(format!("style_image_id: no style image {id}")));
            }
            _ => {}
        }
        required("preset_id", &input.preset_id, 128)
    }

    pub fn add_category(&mut self, input: StyleCategoryInput) -> Result<StyleCategory> {
        self.check_category(&input, None)?;
        let category = input.with_id(self.next_id());
        self.categories.push(category.clone());
        Ok(category)
    }

    pub fn replace_category(&mut self, id: u64, input: StyleCategoryInput) -> Result<StyleCategory> {
        self.check_category(&input, Some(id))?;
        let slot = self.categories.iter_mut().find(|c| c.id == id).ok_or_else(category_not_found)?;
        *slot = input.with_id(id);
        Ok(slot.clone())
    }

    /// Removes a category that no style image or preset uses (409 otherwise).
    pub fn remove_category(&mut self, id: u64) -> Result<()> {
        self.category(id).ok_or_else(category_not_found)?;
        let images = self.images.iter().filter(|image| image.category_id == id).count();
        let presets = self.presets.iter().filter(|preset| preset.style_category_id == Some(id)).count();
        if images + presets > 0 {
            return Err(Error::Conflict(format!(
                "category {id} is used by {images} style image(s) and {presets} preset(s)"
            )));
        }
        self.categories.retain(|category| category.id != id);
        Ok(())
    }

    pub fn add_image(&mut self, input: StyleImageInput) -> Result<StyleImage> {
        self.check_image(&input, None)?;
        let image = input.with_id(self.next_id());
        self.images.push(image.clone());
        Ok(image)
    }

    pub fn replace_image(&mut self, id: u64, input: StyleImageInput) -> Result<StyleImage> {
        self.check_image(&input, Some(id))?;
        let slot = self.images.iter_mut().find(|i| i.id == id).ok_or_else(image_not_found)?;
        *slot = input.with_id(id);
        Ok(slot.clone())
    }

    /// Removes a style image no preset uses (409 otherwise).
    pub fn remove_image(&mut self, id: u64) -> Result<()> {
        self.image(id).ok_or_else(image_not_found)?;
        let presets = self.presets.iter().filter(|preset| preset.style_image_id == Some(id)).count();
        if presets > 0 {
            return Err(Error::Conflict(format!("style image {id} is used by {presets} preset(s)")));
        }
        self.images.retain(|image| image.id != id);
        Ok(())
    }

    pub fn add_preset(&mut self, input: MeituPresetInput) -> Result<MeituPreset> {
        self.check_preset(&input)?;
        let preset = input.with_id(self.next_id());
        self.presets.push(preset.clone());
        Ok(preset)
    }

    pub fn replace_preset(&mut self, id: u64, input: MeituPresetInput) -> Result<MeituPreset> {
        self.check_preset(&input)?;
        let slot = self.presets.iter_mut().find(|p| p.id == id).ok_or_else(preset_not_found)?;
        *slot = input.with_id(id);
        Ok(slot.clone())
    }

    pub fn remove_preset(&mut self, id: u64) -> Result<()> {
        self.preset(id).ok_or_else(preset_not_found)?;
        self.presets.retain(|preset| preset.id != id);
        Ok(())
    }
}

/// Seed 000's answer to a preset that does not exist.
pub const PRESET_NOT_FOUND: &str = "预设不存在";

pub const CATEGORY_NOT_FOUND: &str = "风格分类不存在";
pub const IMAGE_NOT_FOUND: &str = "风格图片不存在";

fn preset_not_found() -> Error {
    Error::NotFound(PRESET_NOT_FOUND.into())
}

fn category_not_found() -> Error {
    Error::NotFound(CATEGORY_NOT_FOUND.into())
}

fn image_not_found() -> Error {
    Error::NotFound(IMAGE_NOT_FOUND.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(code: &str) -> StyleCategoryInput {
        StyleCategoryInput {
            name: format!("分类 {code}"),
            code: code.into(),
            description: String::new(),
            cover_url: None,
            capability: None,
            prompt: None,
            sort_order: 0,
            is_active: true,
        }
    }

    fn image(category_id: u64, code: &str) -> StyleImageInput {
        StyleImageInput {
            category_id,
            name: format!("风格 {code}"),
            code: code.into(),
            description: String::new(),
            image_url: Some("https://example.com/s.png".into()),
            capability: None,
            prompt: None,
            sort_order: 0,
            is_active: true,
        }
    }

    fn preset(code: &str, category: Option<u64>, image: Option<u64>) -> MeituPresetInput {
        MeituPresetInput {
            preset_id: code.into(),
            preset_name: String::new(),
            description: String::new(),
            style_category_id: category,
            style_image_id: image,
            is_active: true,
        }
    }

    #[test]
    fn a_preset_maps_to_exactly_one_style_that_exists() {
        let mut catalog = StyleCatalog::default();
        let portraits = catalog.add_category(category("portrait")).unwrap();
        let classic = catalog.add_image(image(portraits.id, "classic")).unwrap();
        let both = catalog.add_preset(preset("MT1", Some(portraits.id), Some(classic.id))).unwrap_err();
        assert_eq!(both.to_string(), PRESET_TAKES_ONE_STYLE);
        let neither = catalog.add_preset(preset("MT1", None, Some(0))).unwrap_err();
        assert_eq!(neither.to_string(), PRESET_NEEDS_A_STYLE);
        assert!(
            catalog.add_preset(preset("MT1", Some(99), None)).unwrap_err().to_string().contains("style_category_id")
        );
        let on_category = catalog.add_preset(preset("MT-CAT", Some(portraits.id), None)).unwrap();
        let on_image = catalog.add_preset(preset("MT-IMG", None, Some(classic.id))).unwrap();
        assert_ne!(on_category.id, on_image.id);
        catalog.remove_preset(on_image.id).unwrap();
        assert_eq!(catalog.presets, [on_category]);
    }

    #[test]
    fn styles_in_use_are_not_removed_and_codes_are_unique() {
        let mut catalog = StyleCatalog::default();
        let portraits = catalog.add_category(category("portrait")).unwrap();
        assert!(matches!(catalog.add_category(category("portrait")), Err(Error::Conflict(_))));
        let classic = catalog.add_image(image(portraits.id, "classic")).unwrap();
        assert!(matches!(catalog.add_image(image(portraits.id, "classic")), Err(Error::Conflict(_))));
        assert!(matches!(catalog.add_image(image(42, "other")), Err(Error::Invalid(_))));
        assert!(matches!(catalog.remove_category(portraits.id), Err(Error::Conflict(_))));
        catalog.remove_image(classic.id).unwrap();
        catalog.remove_category(portraits.id).unwrap();
        let next = catalog.add_category(category("landscape")).unwrap();
        assert_eq!(next.id, 3, "ids are never reused");
    }

    #[test]
    fn a_job_names_a_style_by_code_and_inherits_its_defaults_and_preset() {
        let mut catalog = StyleCatalog::default();
        let portraits = catalog
            .add_category(StyleCategoryInput {
                capability: Some(Capability::ImageEdit),
                prompt: Some("studio portrait".into()),
                ..category("portrait")
            })
            .unwrap();
        let classic = catalog.add_image(image(portraits.id, "classic")).unwrap();
        let film = catalog
            .add_image(StyleImageInput { prompt: Some("film grain".into()), ..image(portraits.id, "film") })
            .unwrap();
        catalog.add_preset(preset("MT-CAT", Some(portraits.id), None)).unwrap();
        catalog.add_preset(preset("MT-FILM", None, Some(film.id))).unwrap();

        let chosen = catalog.choose("classic").unwrap();
        assert_eq!(chosen.style.name, classic.name);
        assert_eq!(chosen.style.meitu_preset.as_deref(), Some("MT-CAT"), "the category's preset");
        assert_eq!(
            (chosen.capability, chosen.prompt.as_deref()),
            (Some(Capability::ImageEdit), Some("studio portrait"))
        );
        let chosen = catalog.choose("film").unwrap();
        assert_eq!(chosen.style.meitu_preset.as_deref(), Some("MT-FILM"), "its own preset first");
        assert_eq!(chosen.prompt.as_deref(), Some("film grain"));
        assert_eq!(catalog.choose("portrait").unwrap().style.meitu_preset.as_deref(), Some("MT-CAT"));

        let unknown = catalog.choose("nope").unwrap_err().to_string();
        assert!(unknown.starts_with("style:"), "{unknown}");
        catalog
            .replace_category(portraits.id, StyleCategoryInput { is_active: false, ..category("portrait") })
            .unwrap();
        assert!(catalog.choose("classic").is_err(), "a style of an inactive category is not offered");
    }
}
