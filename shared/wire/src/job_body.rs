//! The body of `POST /api/v1/jobs` (also the inference presets' format): what a client may
//! send, how it becomes a [`NewJob`], and the JSON Schema each capability publishes.

use genrelay_core::job::{parse_order_number, parse_priority};
use genrelay_core::shapes::{AssetIdText, HttpUrl, Prompt, WebhookUrl};
use genrelay_core::spec::{
    ImageGenerateParams, ImageQuality, Inputs, Material, MaterialType, Params, UpscaleResolution, VideoRatio,
    VideoResolution, VideoSettings, parse_asset_ids, parse_prompt, parse_url, parse_urls,
};
use genrelay_core::styles::StyleChoice;
use genrelay_core::{Capability, InputImageType, JobLabels, JobSource, JobSpec, NewJob, WebhookEvent};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The body of `POST /api/v1/jobs`. Fields that do not apply to the capability, and fields not
/// listed here, are ignored: they are neither stored nor passed to a provider.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobBody {
    /// `image.generate`, `image.inpaint`, `image.upscale` or `video.generate`.
    #[schema(value_type = Capability, required = true, example = "image.generate")]
    pub capability: Option<String>,
    /// Required except for `image.upscale`.
    #[schema(value_type = Option<Prompt>)]
    pub prompt: Option<String>,
    /// image.generate: 64-4096, default 1024.
    #[schema(minimum = 64, maximum = 4096, default = 1024)]
    pub width: Option<u32>,
    /// image.generate: 64-4096, default 1024.
    #[schema(minimum = 64, maximum = 4096, default = 1024)]
    pub height: Option<u32>,
    /// image.generate: text influence 0-100 (Jimeng).
    #[schema(minimum = 0, maximum = 100)]
    pub scale: Option<u32>,
    /// image.generate: low, medium, high or auto (EvoLink).
    #[schema(value_type = Option<ImageQuality>)]
    pub quality: Option<String>,
    /// image.generate: ask for a single image.
    #[serde(rename = "force_single")]
    #[schema(default = false)]
    pub force_single: Option<bool>,
    /// image.upscale: 2k (default) or 4k.
    #[schema(value_type = Option<UpscaleResolution>, default = "2k")]
    pub resolution: Option<String>,
    /// image.edit: the output keeps the input's size (default false).
    #[schema(default = false)]
    pub keep_size: Option<bool>,
    /// video.generate settings.
    pub settings: Option<VideoSettingsBody>,
    /// video.generate reference materials.
    #[schema(max_items = 16)]
    pub materials: Option<Vec<MaterialBody>>,
    /// Input images (http or https); for image.inpaint the original then the mask.
    #[schema(value_type = Option<Vec<HttpUrl>>, max_items = 16)]
    pub image_urls: Option<Vec<String>>,
    /// Other input files (http or https).
    #[schema(value_type = Option<Vec<HttpUrl>>, max_items = 16)]
    pub input_urls: Option<Vec<String>>,
    /// Ids of the caller's assets, used as input images.
    #[schema(value_type = Option<Vec<AssetIdText>>, max_items = 16)]
    pub input_asset_ids: Option<Vec<String>>,
    /// Called when the job ends (signed, retried; see the webhook deliveries).
    #[schema(value_type = Option<WebhookUrl>)]
    pub webhook_url: Option<String>,
    /// The events the webhook announces: any of generation.running, generation.succeeded,
    /// generation.failed, generation.expired, generation.cancelled; default all but running.
    /// Needs a webhookUrl.
    #[schema(value_type = Option<Vec<WebhookEvent>>, min_items = 1)]
    pub webhook_events: Option<Vec<String>>,
    /// Lower runs sooner: 0-5 travel on the priority lane; default 10.
    #[schema(minimum = 0, maximum = 1000, default = 10)]
    pub priority: Option<u32>,
    /// Your order number for the job, shown and searched (by substring) in the back office; up
    /// to 128 characters. genrelay's addition to seed 004.
    #[schema(min_length = 1, max_length = 128, example = "ORD-20261204-0001")]
    pub order_number: Option<String>,
    /// The input picture: `original` (原图) or `retouched` (美颜后, already through Meitu); a
    /// back-office filter. genrelay's addition to seed 004.
    #[schema(value_type = Option<InputImageType>)]
    pub image_type: Option<String>,
    /// The code of a style of the studio's catalog (a style image's, else a category's; see
    /// the back office's Meitu presets page). The job inherits the style's capability and
    /// prompt where it gives none; with Meitu's retouch before workflows on, an `original`
    /// input image is retouched with the style's Meitu preset first. genrelay's addition to
    /// seed 004.
    #[schema(min_length = 1, max_length = 64, example = "film")]
    pub style: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VideoSettingsBody {
    /// 16:9, 4:3, 1:1, 3:4, 9:16, 21:9 or adaptive; default 16:9.
    #[schema(value_type = Option<VideoRatio>, default = "16:9")]
    pub ratio: Option<String>,
    /// Seconds, 4-15; default 5.
    #[schema(minimum = 4, maximum = 15, default = 5)]
    pub duration: Option<u32>,
    /// 480p, 720p (default) or 1080p.
    #[schema(value_type = Option<VideoResolution>, default = "720p")]
    pub resolution: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaterialBody {
    /// image, video or audio.
    #[serde(rename = "type")]
    #[schema(value_type = MaterialType, required = true)]
    pub kind: Option<String>,
    #[schema(value_type = Option<HttpUrl>)]
    pub url: Option<String>,
    #[schema(value_type = Option<AssetIdText>)]
    pub asset_id: Option<String>,
    /// How the prompt refers to it, e.g. `@图片1`.
    pub label: Option<String>,
}

/// Which fields of [`CreateJobBody`] a capability reads (beyond those every job reads), which it
/// requires, and what a schema cannot say: the published parameters of each capability.
pub struct CapabilityFields {
    pub own: &'static [&'static str],
    pub required: &'static [&'static str],
    pub note: Option<&'static str>,
}

/// The fields every job reads.
pub const COMMON_FIELDS: [&str; 11] = [
    "capability",
    "prompt",
    "imageUrls",
    "inputUrls",
    "inputAssetIds",
    "webhookUrl",
    "webhookEvents",
    "priority",
    "orderNumber",
    "imageType",
    "style",
];

pub fn fields_of(capability: Capability) -> CapabilityFields {
    let with_prompt: &[&str] = &["capability", "prompt"];
    match capability {
        Capability::ImageGenerate => CapabilityFields {
            own: &["width", "height", "scale", "quality", "force_single"],
            required: with_prompt,
            note: None,
        },
        Capability::ImageEdit => CapabilityFields {
            own: &["keepSize"],
            required: with_prompt,
            note: Some("one image to edit, in imageUrls or inputAssetIds"),
        },
        Capability::ImageInpaint => CapabilityFields {
            own: &[],
            required: with_prompt,
            note: Some("two images, original first then mask, from imageUrls and inputAssetIds"),
        },
        Capability::ImageUpscale => CapabilityFields {
            own: &["resolution"],
            required: &["capability"],
            note: Some("at least one image in imageUrls or inputAssetIds"),
        },
        Capability::VideoGenerate => {
            CapabilityFields { own: &["settings", "materials"], required: with_prompt, note: None }
        }
    }
}

impl CreateJobBody {
    /// The job it asks for, in the style `choice` (the catalog's reading of `style`, which the
    /// caller resolves): the style's capability and prompt where the body gives none.
    pub fn in_style(mut self, choice: Option<StyleChoice>) -> Result<NewJob, genrelay_core::Error> {
        let Some(choice) = choice else { return self.try_into() };
        if self.capability.is_none() {
            self.capability = choice.capability.map(|capability| capability.as_str().to_owned());
        }
        if self.prompt.is_none() {
            self.prompt = choice.prompt;
        }
        self.style = None;
        let mut new: NewJob = self.try_into()?;
        new.spec.style = Some(choice.style);
        Ok(new)
    }
}

/// A body read without the style catalog: one naming a style is refused (see
/// [`CreateJobBody::in_style`]).
impl TryFrom<CreateJobBody> for NewJob {
    type Error = genrelay_core::Error;

    fn try_from(body: CreateJobBody) -> Result<Self, Self::Error> {
        if body.style.is_some() {
            return Err(genrelay_core::Error::invalid("style: styles are not taken here"));
        }
        let raw_capability = body.capability.ok_or_else(|| genrelay_core::Error::invalid("capability: required"))?;
        let capability = Capability::parse(&raw_capability, "capability")?;
        let prompt = parse_prompt(body.prompt, "prompt")?;
        let materials = body
            .materials
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let field = format!("materials[{i}]");
                let kind = m.kind.ok_or_else(|| genrelay_core::Error::invalid(format!("{field}.type: required")))?;
                let kind = MaterialType::parse(&kind, &format!("{field}.type"))?;
                Material::new(kind, m.url, m.asset_id, m.label, &field)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let inputs = Inputs {
            image_urls: parse_urls(body.image_urls.unwrap_or_default(), "imageUrls")?,
            input_urls: parse_urls(body.input_urls.unwrap_or_default(), "inputUrls")?,
            input_asset_ids: parse_asset_ids(body.input_asset_ids.unwrap_or_default(), "inputAssetIds")?,
            materials,
        };
        let params = match capability {
            Capability::ImageGenerate => Params::ImageGenerate(ImageGenerateParams::new(
                body.width,
                body.height,
                body.scale,
                body.quality.map(|q| ImageQuality::parse(&q, "quality")).transpose()?,
                body.force_single,
            )?),
            Capability::ImageEdit => Params::ImageEdit { keep_size: body.keep_size.unwrap_or(false) },
            Capability::ImageInpaint => Params::ImageInpaint,
            Capability::ImageUpscale => Params::ImageUpscale {
                resolution: body
                    .resolution
                    .map(|r| UpscaleResolution::parse(&r, "resolution"))
                    .transpose()?
                    .unwrap_or(UpscaleResolution::K2),
            },
            Capability::VideoGenerate => {
                let settings =
                    body.settings.unwrap_or(VideoSettingsBody { ratio: None, duration: None, resolution: None });
                Params::VideoGenerate(VideoSettings::new(
                    settings.ratio.map(|r| VideoRatio::parse(&r, "settings.ratio")).transpose()?,
                    settings.duration,
                    settings.resolution.map(|r| VideoResolution::parse(&r, "settings.resolution")).transpose()?,
                )?)
            }
        };
        let webhook_url = body.webhook_url.map(|url| parse_url(&url, "webhookUrl")).transpose()?;
        let webhook_events = body
            .webhook_events
            .map(|events| {
                let parsed = events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| WebhookEvent::parse(e, &format!("webhookEvents[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                match (parsed.is_empty(), &webhook_url) {
                    (true, _) => Err(genrelay_core::Error::invalid("webhookEvents: name at least one event")),
                    (_, None) => Err(genrelay_core::Error::invalid("webhookEvents: needs a webhookUrl")),
                    _ => Ok(parsed),
                }
            })
            .transpose()?;
        let priority = parse_priority(body.priority, "priority")?;
        let labels = JobLabels {
            order_number: parse_order_number(body.order_number, "orderNumber")?,
            image_type: body.image_type.map(|t| InputImageType::parse(&t, "imageType")).transpose()?,
            ..JobLabels::default()
        };
        let spec = JobSpec::new(capability, prompt, inputs, params)?;
        Ok(NewJob { spec, webhook_url, webhook_events, priority, source: JobSource::OpenApi, labels })
    }
}

/// The JSON Schema of `POST /api/v1/jobs` for one capability, cut from [`CreateJobBody`]'s
/// (the schema of what the parser reads): the fields the capability reads, its name fixed, what
/// it requires, references inlined so the schema stands alone. `null`, which counts as not
/// given, is left out.
pub fn parameters_of(capability: Capability) -> Value {
    use serde_json::json;
    static BODY: std::sync::OnceLock<(Value, Value)> = std::sync::OnceLock::new();
    let (body, components) = BODY.get_or_init(|| {
        let mut schemas = Vec::new();
        <CreateJobBody as ToSchema>::schemas(&mut schemas);
        let components: serde_json::Map<String, Value> = schemas
            .into_iter()
            .map(|(name, schema)| (name, serde_json::to_value(schema).expect("schemas serialize")))
            .collect();
        let body = serde_json::to_value(<CreateJobBody as utoipa::PartialSchema>::schema()).expect("schemas serialize");
        (body, Value::Object(components))
    });
    let fields = fields_of(capability);
    let properties: serde_json::Map<String, Value> = COMMON_FIELDS
        .iter()
        .chain(fields.own)
        .map(|name| (name.to_string(), standalone(&body["properties"][*name], components)))
        .collect();
    let mut schema = json!({"type": "object", "properties": properties, "required": fields.required});
    schema["properties"]["capability"] = json!({"const": capability.as_str()});
    if let Some(note) = fields.note {
        schema["description"] = Value::from(note);
    }
    schema
}

/// `schema` with every `#/components/schemas/…` reference replaced by what it names, and the
/// `null` alternative of an optional value dropped.
fn standalone(schema: &Value, components: &Value) -> Value {
    match schema {
        Value::Object(fields) => {
            if let Some(Value::String(reference)) = fields.get("$ref") {
                let name = reference.trim_start_matches("#/components/schemas/");
                return standalone(&components[name], components);
            }
            if let Some(Value::Array(alternatives)) = fields.get("oneOf") {
                let kept: Vec<&Value> =
                    alternatives.iter().filter(|a| a.get("type") != Some(&Value::from("null"))).collect();
                if let [only] = kept.as_slice() {
                    let mut merged = standalone(only, components);
                    for (key, value) in fields.iter().filter(|(key, _)| *key != "oneOf") {
                        merged[key] = standalone(value, components);
                    }
                    return merged;
                }
            }
            let mut out = serde_json::Map::new();
            for (key, value) in fields {
                let value = match (key.as_str(), value) {
                    ("type", Value::Array(types)) => {
                        let kept: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                        match kept.as_slice() {
                            [only] => (*only).clone(),
                            _ => value.clone(),
                        }
                    }
                    _ => standalone(value, components),
                };
                out.insert(key.clone(), value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| standalone(item, components)).collect()),
        other => other.clone(),
    }
}
