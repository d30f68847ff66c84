//! The capabilities a client can ask for, and what each accepts.

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
}
