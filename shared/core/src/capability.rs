//! The capabilities a client can ask for, and what each accepts.

use serde_json::{Value, json};

use crate::spec::{
    IMAGE_MAX_SIDE, IMAGE_MIN_SIDE, ImageQuality, MAX_INPUTS, PROMPT_MAX_CHARS, UpscaleResolution, VIDEO_MAX_SECONDS,
    VIDEO_MIN_SECONDS, VideoRatio, VideoResolution,
};

named_values!(
    /// What a job asks for.
    Capability {
        ImageGenerate = "image.generate",
        ImageInpaint = "image.inpaint",
        ImageUpscale = "image.upscale",
        VideoGenerate = "video.generate",
        // After seed 004's four, which keep their order: the PS task API's capability.
        ImageEdit = "image.edit",
    }
);

impl Capability {
    /// The short description of seed 004's capability table.
    pub fn description(self) -> &'static str {
        match self {
            Self::ImageGenerate => "图片生成 (image generation)",
            Self::ImageEdit => "图片编辑 (prompt-driven edit of one image; the PS task API's capability)",
            Self::ImageInpaint => "局部重绘 (inpainting: original image + mask)",
            Self::ImageUpscale => "智能超清 (upscaling)",
            Self::VideoGenerate => "Seedance 视频生成 (video generation)",
        }
    }

    pub fn output_kind(self) -> crate::AssetKind {
        match self {
            Self::VideoGenerate => crate::AssetKind::Video,
            _ => crate::AssetKind::Image,
        }
    }

    /// The JSON Schema of the request body for this capability, as published by
    /// `GET /api/v1/capabilities`. The bounds are the constants the validation uses.
    pub fn parameter_schema(self) -> Value {
        let url_list = |description: &str| {
            json!({"type": "array", "maxItems": MAX_INPUTS, "description": description,
                   "items": {"type": "string", "format": "uri"}})
        };
        let prompt = json!({"type": "string", "minLength": 1, "maxLength": PROMPT_MAX_CHARS});
        let asset_ids = json!({"type": "array", "maxItems": MAX_INPUTS,
                               "items": {"type": "string", "pattern": "^asset_"},
                               "description": "ids of this client's assets"});
        let mut properties = json!({
            "capability": {"const": self.as_str()},
            "prompt": prompt,
            "imageUrls": url_list("reference images (http or https URLs)"),
            "inputUrls": url_list("other input files (http or https URLs)"),
            "inputAssetIds": asset_ids,
            "webhookUrl": {"type": "string", "format": "uri"},
        });
        let extra = match self {
            Self::ImageGenerate => json!({
                "width": {"type": "integer", "minimum": IMAGE_MIN_SIDE, "maximum": IMAGE_MAX_SIDE, "default": 1024},
                "height": {"type": "integer", "minimum": IMAGE_MIN_SIDE, "maximum": IMAGE_MAX_SIDE, "default": 1024},
                "scale": {"type": "integer", "minimum": 0, "maximum": 100,
                          "description": "text influence (Jimeng)"},
                "quality": {"enum": ImageQuality::NAMES, "description": "generation quality (EvoLink)"},
                "force_single": {"type": "boolean", "default": false},
            }),
            Self::ImageEdit => json!({
                "keepSize": {"type": "boolean", "default": false, "description": "the output keeps the input's size"},
            }),
            Self::ImageInpaint => json!({}),
            Self::ImageUpscale => json!({
                "resolution": {"enum": UpscaleResolution::NAMES, "default": "2k"},
            }),
            Self::VideoGenerate => json!({
                "settings": {"type": "object", "properties": {
                    "ratio": {"enum": VideoRatio::NAMES, "default": "16:9"},
                    "duration": {"type": "integer", "minimum": VIDEO_MIN_SECONDS,
                                 "maximum": VIDEO_MAX_SECONDS, "default": 5},
                    "resolution": {"enum": VideoResolution::NAMES, "default": "720p"},
                }},
                "materials": {"type": "array", "maxItems": MAX_INPUTS, "items": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["image", "video", "audio"]},
                        "url": {"type": "string", "format": "uri"},
                        "assetId": {"type": "string"},
                        "label": {"type": "string"},
                    },
                    "required": ["type"],
                }},
            }),
        };
        let map = properties.as_object_mut().expect("object");
        map.extend(extra.as_object().expect("object").clone());
        let required: &[&str] = match self {
            Self::ImageUpscale => &["capability"],
            _ => &["capability", "prompt"],
        };
        let note = match self {
            Self::ImageInpaint => Some("two images, original first then mask, from imageUrls and inputAssetIds"),
            Self::ImageEdit => Some("one image to edit, in imageUrls or inputAssetIds"),
            Self::ImageUpscale => Some("at least one image in imageUrls or inputAssetIds"),
            _ => None,
        };
        let mut schema = json!({"type": "object", "properties": properties, "required": required});
        if let Some(note) = note {
            schema["description"] = Value::from(note);
        }
        schema
    }
}
