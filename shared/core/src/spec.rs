//! What a client asked a job to do, validated: the capability, its prompt and inputs, and the
//! parameters of that capability. Field rules live next to the type they guard; `JobSpec::new`
//! adds the rules that span fields (what each capability requires).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::capability::Capability;
use crate::error::{Error, Result};
use crate::ids::AssetId;
use crate::styles::JobStyle;

pub const IMAGE_MIN_SIDE: u32 = 64;
pub const IMAGE_MAX_SIDE: u32 = 4096;
pub const DEFAULT_IMAGE_SIDE: u32 = 1024;
pub const VIDEO_MIN_SECONDS: u32 = 4;
pub const VIDEO_MAX_SECONDS: u32 = 15;
pub const DEFAULT_VIDEO_SECONDS: u32 = 5;
pub const PROMPT_MAX_CHARS: usize = 4000;
pub const MAX_INPUTS: usize = 16;
pub const URL_MAX_CHARS: usize = 2048;

named_values!(
    /// Aspect ratios of `video.generate`.
    VideoRatio {
        Wide = "16:9", Classic = "4:3", Square = "1:1", ClassicPortrait = "3:4",
        Portrait = "9:16", Cinema = "21:9", Adaptive = "adaptive",
    }
);
named_values!(VideoResolution { P480 = "480p", P720 = "720p", P1080 = "1080p" });
named_values!(UpscaleResolution { K2 = "2k", K4 = "4k" });
named_values!(ImageQuality { Low = "low", Medium = "medium", High = "high", Auto = "auto" });
named_values!(MaterialType { Image = "image", Video = "video", Audio = "audio" });

impl VideoRatio {
    /// Width over height; `adaptive` follows the first material, square without one.
    pub fn proportions(self) -> (u32, u32) {
        match self {
            Self::Wide => (16, 9),
            Self::Classic => (4, 3),
            Self::Square | Self::Adaptive => (1, 1),
            Self::ClassicPortrait => (3, 4),
            Self::Portrait => (9, 16),
            Self::Cinema => (21, 9),
        }
    }
}

impl VideoResolution {
    /// The length of the short side in pixels.
    pub fn short_side(self) -> u32 {
        match self {
            Self::P480 => 480,
            Self::P720 => 720,
            Self::P1080 => 1080,
        }
    }
}

/// A validated prompt: non-blank and at most `PROMPT_MAX_CHARS` characters.
pub fn parse_prompt(raw: Option<String>, field: &str) -> Result<Option<String>> {
    match raw {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Err(Error::invalid(format!("{field}: must not be empty"))),
        Some(text) if text.chars().count() > PROMPT_MAX_CHARS => {
            Err(Error::invalid(format!("{field}: must be at most {PROMPT_MAX_CHARS} characters")))
        }
        Some(text) => Ok(Some(text)),
    }
}

/// A validated absolute http(s) URL.
pub fn parse_url(raw: &str, field: &str) -> Result<String> {
    if raw.len() > URL_MAX_CHARS {
        return Err(Error::invalid(format!("{field}: URL longer than {URL_MAX_CHARS} characters")));
    }
    let url = url::Url::parse(raw).map_err(|e| Error::invalid(format!("{field}: {raw:?} is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::invalid(format!("{field}: only http and https URLs are accepted")));
    }
    Ok(url.to_string())
}

/// A validated list of URLs (`field` names the list, items are reported as `field[i]`).
pub fn parse_urls(raw: Vec<String>, field: &str) -> Result<Vec<String>> {
    check_count(raw.len(), field)?;
    raw.iter().enumerate().map(|(i, url)| parse_url(url, &format!("{field}[{i}]"))).collect()
}

/// Validated asset ids. Whether they exist is checked against the client's assets later.
pub fn parse_asset_ids(raw: Vec<String>, field: &str) -> Result<Vec<AssetId>> {
    check_count(raw.len(), field)?;
    raw.iter()
        .enumerate()
        .map(|(i, id)| {
            AssetId::parse(id).map_err(|_| Error::invalid(format!("{field}[{i}]: {id:?} is not an asset id")))
        })
        .collect()
}

fn check_count(count: usize, field: &str) -> Result<()> {
    if count > MAX_INPUTS {
        return Err(Error::invalid(format!("{field}: at most {MAX_INPUTS} items are accepted")));
    }
    Ok(())
}

/// A reference input of a video job: an image, video or audio by URL or by asset id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Material {
    #[serde(rename = "type")]
    pub kind: MaterialType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub asset_id: Option<AssetId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Material {
    /// A material needs exactly one source: `url` or `assetId`.
    pub fn new(
        kind: MaterialType,
        url: Option<String>,
        asset_id: Option<String>,
        label: Option<String>,
        field: &str,
    ) -> Result<Self> {
        let (url, asset_id) = match (url, asset_id) {
            (Some(url), None) => (Some(parse_url(&url, &format!("{field}.url"))?), None),
            (None, Some(id)) => {
                let id = AssetId::parse(&id)
                    .map_err(|_| Error::invalid(format!("{field}.assetId: {id:?} is not an asset id")))?;
                (None, Some(id))
            }
            _ => {
                return Err(Error::invalid(format!("{field}: give exactly one of url or assetId")));
            }
        };
        Ok(Self { kind, url, asset_id, label })
    }
}

/// Where a job's input files come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    pub image_urls: Vec<String>,
    pub input_urls: Vec<String>,
    pub input_asset_ids: Vec<AssetId>,
    pub materials: Vec<Material>,
}

impl Inputs {
    /// Images given directly (URLs first, then assets): what inpaint and upscale work on.
    pub fn image_count(&self) -> usize {
        self.image_urls.len() + self.input_asset_ids.len()
    }
}

/// The parameters of one capability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Params {
    ImageGenerate(ImageGenerateParams),
    ImageEdit { keep_size: bool },
    ImageInpaint,
    ImageUpscale { resolution: UpscaleResolution },
    VideoGenerate(VideoSettings),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageGenerateParams {
    pub width: u32,
    pub height: u32,
    pub scale: Option<u32>,
    pub quality: Option<ImageQuality>,
    pub force_single: bool,
}

impl ImageGenerateParams {
    pub fn new(
        width: Option<u32>,
        height: Option<u32>,
        scale: Option<u32>,
        quality: Option<ImageQuality>,
        force_single: Option<bool>,
    ) -> Result<Self> {
        let side = |value: Option<u32>, field: &str| {
            let value = value.unwrap_or(DEFAULT_IMAGE_SIDE);
            if (IMAGE_MIN_SIDE..=IMAGE_MAX_SIDE).contains(&value) {
                Ok(value)
            } else {
                Err(Error::invalid(format!("{field}: must be between {IMAGE_MIN_SIDE} and {IMAGE_MAX_SIDE} pixels")))
            }
        };
        if let Some(scale) = scale.filter(|s| *s > 100) {
            return Err(Error::invalid(format!("scale: must be between 0 and 100, got {scale}")));
        }
        Ok(Self {
            width: side(width, "width")?,
            height: side(height, "height")?,
            scale,
            quality,
            force_single: force_single.unwrap_or(false),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VideoSettings {
    pub ratio: VideoRatio,
    pub duration: u32,
    pub resolution: VideoResolution,
}

impl VideoSettings {
    pub fn new(ratio: Option<VideoRatio>, duration: Option<u32>, resolution: Option<VideoResolution>) -> Result<Self> {
        let duration = duration.unwrap_or(DEFAULT_VIDEO_SECONDS);
        if !(VIDEO_MIN_SECONDS..=VIDEO_MAX_SECONDS).contains(&duration) {
            return Err(Error::invalid(format!(
                "settings.duration: must be between {VIDEO_MIN_SECONDS} and {VIDEO_MAX_SECONDS} seconds, got {duration}"
            )));
        }
        Ok(Self {
            ratio: ratio.unwrap_or(VideoRatio::Wide),
            duration,
            resolution: resolution.unwrap_or(VideoResolution::P720),
        })
    }

    /// Output size in pixels: the short side from the resolution, the long side from the ratio,
    /// both even (what video encoders need).
    pub fn dimensions(&self) -> (u32, u32) {
        let (w, h) = self.ratio.proportions();
        let short = self.resolution.short_side();
        let even = |v: u32| v + v % 2;
        if w >= h { (even(short * w / h), short) } else { (short, even(short * h / w)) }
    }
}

/// A validated job request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub capability: Capability,
    pub prompt: Option<String>,
    pub inputs: Inputs,
    pub params: Params,
    /// The catalog style the job named, if any (its defaults are already applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<JobStyle>,
}

impl JobSpec {
    /// Checks what each capability requires beyond its fields' own rules.
    pub fn new(capability: Capability, prompt: Option<String>, inputs: Inputs, params: Params) -> Result<Self> {
        let needs_prompt = !matches!(capability, Capability::ImageUpscale);
        if needs_prompt && prompt.is_none() {
            return Err(Error::invalid(format!("prompt: required for {capability}")));
        }
        match capability {
            Capability::ImageInpaint if inputs.image_count() < 2 => {
                return Err(Error::invalid(
                    "imageUrls: image.inpaint needs two images, the original then the mask \
                     (in imageUrls, or in inputAssetIds)",
                ));
            }
            Capability::ImageUpscale if inputs.image_count() == 0 => {
                return Err(Error::invalid("imageUrls: image.upscale needs an image in imageUrls or inputAssetIds"));
            }
            Capability::ImageEdit if inputs.image_count() == 0 => {
                return Err(Error::invalid(
                    "imageUrls: image.edit needs the image to edit in imageUrls or inputAssetIds",
                ));
            }
            _ => {}
        }
        Ok(Self { capability, prompt, inputs, params, style: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<impl std::fmt::Debug>) -> String {
        match result.unwrap_err() {
            Error::Invalid(message) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn video_duration_outside_4_to_15_names_the_field() {
        assert!(VideoSettings::new(None, Some(4), None).is_ok());
        assert!(VideoSettings::new(None, Some(15), None).is_ok());
        assert!(message(VideoSettings::new(None, Some(3), None)).starts_with("settings.duration"));
        assert!(message(VideoSettings::new(None, Some(16), None)).starts_with("settings.duration"));
    }

    #[test]
    fn the_seven_ratios_and_three_resolutions_are_accepted() {
        for name in ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"] {
            assert_eq!(VideoRatio::parse(name, "settings.ratio").unwrap().as_str(), name);
        }
        assert!(message(VideoRatio::parse("2:1", "settings.ratio")).starts_with("settings.ratio"));
        for name in ["480p", "720p", "1080p"] {
            assert!(VideoResolution::parse(name, "settings.resolution").is_ok());
        }
        assert!(VideoResolution::parse("4k", "settings.resolution").is_err());
    }

    #[test]
    fn video_dimensions_follow_ratio_and_resolution() {
        let portrait = VideoSettings::new(Some(VideoRatio::Portrait), Some(5), Some(VideoResolution::P720)).unwrap();
        assert_eq!(portrait.dimensions(), (720, 1280));
        let wide = VideoSettings::new(Some(VideoRatio::Wide), Some(5), Some(VideoResolution::P1080)).unwrap();
        assert_eq!(wide.dimensions(), (1920, 1080));
    }

    #[test]
    fn image_sides_are_bounded_and_default_to_1024() {
        let params = ImageGenerateParams::new(None, None, None, None, None).unwrap();
        assert_eq!((params.width, params.height), (1024, 1024));
        assert!(message(ImageGenerateParams::new(Some(63), None, None, None, None)).starts_with("width"));
        assert!(message(ImageGenerateParams::new(None, Some(4097), None, None, None)).starts_with("height"));
        assert!(message(ImageGenerateParams::new(None, None, Some(101), None, None)).starts_with("scale"));
    }

    #[test]
    fn prompt_is_required_except_for_upscale() {
        let inputs = Inputs { image_urls: vec!["https://example.com/a.png".into()], ..Inputs::default() };
        let upscale = Params::ImageUpscale { resolution: UpscaleResolution::K4 };
        assert!(JobSpec::new(Capability::ImageUpscale, None, inputs.clone(), upscale).is_ok());
        let generate = Params::ImageGenerate(ImageGenerateParams::new(None, None, None, None, None).unwrap());
        assert!(message(JobSpec::new(Capability::ImageGenerate, None, inputs, generate)).starts_with("prompt"));
    }

    #[test]
    fn upscale_needs_an_image_and_inpaint_needs_original_and_mask() {
        let upscale = Params::ImageUpscale { resolution: UpscaleResolution::K2 };
        assert!(
            message(JobSpec::new(Capability::ImageUpscale, None, Inputs::default(), upscale)).starts_with("imageUrls")
        );
        let one = Inputs { image_urls: vec!["https://example.com/a.png".into()], ..Inputs::default() };
        let err = message(JobSpec::new(Capability::ImageInpaint, Some("x".into()), one.clone(), Params::ImageInpaint));
        assert!(err.contains("mask"));
        let two = Inputs { input_asset_ids: vec![AssetId::parse("asset_1").unwrap()], ..one };
        assert!(JobSpec::new(Capability::ImageInpaint, Some("x".into()), two, Params::ImageInpaint).is_ok());
    }

    #[test]
    fn urls_must_be_http_or_https() {
        assert!(parse_url("https://example.com/a.png", "imageUrls[0]").is_ok());
        assert!(message(parse_url("file:///etc/passwd", "imageUrls[0]")).starts_with("imageUrls[0]"));
        assert!(message(parse_url("not a url", "inputUrls[1]")).starts_with("inputUrls[1]"));
    }

    #[test]
    fn a_material_has_exactly_one_source() {
        let both = Material::new(
            MaterialType::Image,
            Some("https://e.com/a.png".into()),
            Some("asset_1".into()),
            None,
            "materials[0]",
        );
        assert!(message(both).starts_with("materials[0]"));
        let none = Material::new(MaterialType::Image, None, None, None, "materials[0]");
        assert!(none.is_err());
    }
}
