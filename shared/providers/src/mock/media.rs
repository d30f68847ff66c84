//! Real (decodable) media for the built-in mock image/video provider.
//!
//! Everything here is deterministic: the picture is a function of a 64-bit
//! FNV-1a hash of the prompt, so the same prompt and size always produce
//! identical bytes, while different prompts produce visibly different colours
//! and geometry (two-colour gradient, rings around an off-centre point and
//! diagonal stripes).
//!
//! # PNG
//! [`render_png`] writes an 8-bit RGB PNG of exactly the requested size
//! (clamped to `1..=8192` per side). Rows are generated one at a time and
//! streamed into the encoder (fast deflate), so memory stays at a few rows
//! plus the compressed output.
//!
//! # MP4
//! [`render_mp4`] writes an ISO-BMFF file (`isom`/`avc1`, moov before mdat)
//! with one H.264 video track. Frames are coded by `less-avc` as lossless
//! I_PCM IDR pictures (4:2:0, 8 bit, Constrained Baseline), every sample is a
//! sync sample. Rules:
//!
//! * **Size**: if the longer side exceeds [`MP4_MAX_SIDE`] both sides are
//!   scaled down proportionally; then each side is clamped to
//!   `16..=MP4_MAX_SIDE` and rounded *down* to an even number. The picture is
//!   coded at the next multiple of 16 and the SPS carries frame-cropping
//!   offsets, so decoders (and `tkhd`/`avc1`) report exactly that even size,
//!   e.g. 320x180 stays 320x180.
//! * **Frame rate**: I_PCM frames are uncompressed (1.5 bytes per pixel), so
//!   the rate is kept low: 4 fps when `width * height <= 320 * 320`, else
//!   2 fps. Every sample lasts `1000 / fps` ticks of a 1000 Hz timescale, so
//!   the track lasts exactly `duration_secs` (clamped to `1..=15`) seconds.
//! * **Animation**: the palette hue drifts, the rings travel outward and a
//!   bright bar sweeps left to right once over the clip.
//!
//! `less-avc` is used for the PPS and the picture data. Its SPS and slice
//! header are adjusted for browser decoders (see `build_sps` and
//! `patch_slice_header`).

use std::f32::consts::TAU;
use std::io::{Cursor, Seek, SeekFrom, Write};

use less_avc::nal_unit::{NalRefIdc, NalUnit, NalUnitType};
use less_avc::ycbcr_image::{DataPlane, Planes, YCbCrImage};
use less_avc::{BitDepth, LessEncoder, RbspData};
use mp4::{
    AvcConfig, BoxHeader, BoxType, MediaConfig, MoovBox, Mp4Box, Mp4Config, Mp4Sample, Mp4Writer, ReadBox, TrackConfig,
    TrackType, WriteBox,
};

/// Largest side (in pixels) of a generated MP4.
pub const MP4_MAX_SIDE: u32 = 640;
/// Smallest side (in pixels) of a generated MP4.
const MP4_MIN_SIDE: u32 = 16;
/// Largest side (in pixels) of a generated PNG.
const PNG_MAX_SIDE: u32 = 8192;
/// Movie and media timescale of the MP4 (ticks per second).
const TIMESCALE: u32 = 1000;

// ---------------------------------------------------------------------------
// Prompt -> scene
// ---------------------------------------------------------------------------

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// SplitMix64: a tiny, well-mixed PRNG used to expand the prompt hash.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }
}

/// HSV (all components in `0..=1`, hue wraps) to RGB in `0..=1`.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = h.rem_euclid(1.0) * 6.0;
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// Prompt-derived parameters of the procedural picture.
struct Scene {
    /// Hues of the two gradient end colours and the ring colour.
    hues: [f32; 3],
    saturation: f32,
    /// Unit direction of the background gradient.
    gradient_dir: (f32, f32),
    /// Ring centre, in normalised image coordinates.
    ring_center: (f32, f32),
    /// Rings per unit of the shorter image side.
    ring_freq: f32,
    /// Unit direction and frequency of the stripe overlay.
    stripe_dir: (f32, f32),
    stripe_freq: f32,
}

impl Scene {
    fn from_prompt(prompt: &str) -> Self {
        let mut rng = SplitMix64(fnv1a(prompt.as_bytes()));
        let base_hue = rng.range(0.0, 1.0);
        let gradient_angle = rng.range(0.0, TAU);
        let stripe_angle = rng.range(0.0, TAU);
        Self {
            hues: [base_hue, base_hue + rng.range(0.2, 0.5), base_hue + rng.range(0.5, 0.8)],
            saturation: rng.range(0.55, 0.9),
            gradient_dir: (gradient_angle.cos(), gradient_angle.sin()),
            ring_center: (rng.range(0.15, 0.85), rng.range(0.15, 0.85)),
            ring_freq: rng.range(3.0, 9.0),
            stripe_dir: (stripe_angle.cos(), stripe_angle.sin()),
            stripe_freq: rng.range(4.0, 14.0),
        }
    }

    /// The scene at animation time `t`, ready for per-pixel shading.
    fn frame(&self, width: u32, height: u32, t: Option<FrameTime>) -> Shader<'_> {
        let (hue_shift, ring_phase, bar) = match t {
            Some(t) => (t.progress * 0.35, t.seconds * 0.75, Some(t.progress)),
            None => (0.0, 0.0, None),
        };
        let [ha, hb, hc] = self.hues.map(|h| h + hue_shift);
        let short = width.min(height) as f32;
        Shader {
            color_a: hsv(ha, self.saturation, 0.95),
            color_b: hsv(hb, self.saturation, 0.55),
            color_c: hsv(hc, self.saturation * 0.8, 1.0),
            scene: self,
            // Scale factors so rings are round whatever the aspect ratio.
            sx: width as f32 / short,
            sy: height as f32 / short,
            ring_phase,
            bar,
        }
    }
}

/// Where a video frame sits in the clip.
#[derive(Clone, Copy)]
struct FrameTime {
    /// Seconds since the start of the clip.
    seconds: f32,
    /// `0..1` over the clip.
    progress: f32,
}

/// A [`Scene`] specialised for one image / video frame.
struct Shader<'a> {
    scene: &'a Scene,
    color_a: [f32; 3],
    color_b: [f32; 3],
    color_c: [f32; 3],
    sx: f32,
    sy: f32,
    ring_phase: f32,
    /// Horizontal position of the sweeping bar (video only).
    bar: Option<f32>,
}

impl Shader<'_> {
    /// RGB in `0..=1` at normalised coordinates `u, v` (`0..1` across the
    /// visible picture; values outside are allowed and simply extend it).
    fn shade(&self, u: f32, v: f32) -> [f32; 3] {
        let s = self.scene;
        let (du, dv) = (u - 0.5, v - 0.5);

        let g = (du * s.gradient_dir.0 + dv * s.gradient_dir.1 + 0.5).clamp(0.0, 1.0);
        let mut rgb = lerp3(self.color_a, self.color_b, g);

        let (rx, ry) = ((u - s.ring_center.0) * self.sx, (v - s.ring_center.1) * self.sy);
        let dist = (rx * rx + ry * ry).sqrt();
        let ring = 0.5 + 0.5 * (TAU * (dist * s.ring_freq - self.ring_phase)).cos();
        rgb = lerp3(rgb, self.color_c, 0.55 * ring * ring * ring);

        let along = du * self.sx * s.stripe_dir.0 + dv * self.sy * s.stripe_dir.1;
        let stripe = 0.5 + 0.5 * (TAU * along * s.stripe_freq).cos();
        let shade = 0.82 + 0.18 * stripe;
        rgb = rgb.map(|c| c * shade);

        if let Some(pos) = self.bar {
            // Soft-edged white bar about 8% of the width wide.
            let d = ((u - pos).abs() - 0.04).max(0.0) / 0.02;
            let k = 0.8 * (1.0 - d).max(0.0);
            rgb = lerp3(rgb, [1.0; 3], k);
        }
        rgb
    }
}

fn to_u8(c: f32) -> u8 {
    (c * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

// ---------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------

/// A PNG of exactly `width` x `height` (each clamped to `1..=8192`) whose
/// content derives deterministically from the prompt.
pub fn render_png(prompt: &str, width: u32, height: u32) -> Vec<u8> {
    let width = width.clamp(1, PNG_MAX_SIDE);
    let height = height.clamp(1, PNG_MAX_SIDE);
    // The dimensions are valid and we write into a Vec, so encoding can't fail.
    encode_png(prompt, width, height).expect("PNG encoding into memory failed")
}

fn encode_png(prompt: &str, width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let scene = Scene::from_prompt(prompt);
    let shader = scene.frame(width, height, None);

    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    let mut stream = writer.stream_writer()?;

    let mut row = vec![0u8; width as usize * 3];
    for y in 0..height {
        let v = (y as f32 + 0.5) / height as f32;
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let u = (x as f32 + 0.5) / width as f32;
            let rgb = shader.shade(u, v);
            px.copy_from_slice(&rgb.map(to_u8));
        }
        stream.write_all(&row)?;
    }
    stream.finish()?;
    writer.finish()?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// MP4 geometry & timing rules
// ---------------------------------------------------------------------------

/// Display size of the MP4 for a requested size (see the module docs).
fn mp4_size(width: u32, height: u32) -> (u32, u32) {
    let (mut w, mut h) = (u64::from(width.max(1)), u64::from(height.max(1)));
    let longest = w.max(h);
    let max = u64::from(MP4_MAX_SIDE);
    if longest > max {
        w = w * max / longest;
        h = h * max / longest;
    }
    // Both clamp bounds are even, so rounding down afterwards stays in range.
    let fit = |s: u64| (s as u32).clamp(MP4_MIN_SIDE, MP4_MAX_SIDE) & !1;
    (fit(w), fit(h))
}

/// Frames per second for a given display size (see the module docs).
fn mp4_fps(width: u32, height: u32) -> u32 {
    if width * height <= 320 * 320 { 4 } else { 2 }
}

fn align16(v: u32) -> u32 {
    v.div_ceil(16) * 16
}

// ---------------------------------------------------------------------------
// H.264 bitstream details
// ---------------------------------------------------------------------------

/// Minimal MSB-first bit writer for the SPS.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bit_len: usize,
}

impl BitWriter {
    fn bit(&mut self, bit: bool) {
        if self.bit_len.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit {
            *self.bytes.last_mut().unwrap() |= 0x80 >> (self.bit_len % 8);
        }
        self.bit_len += 1;
    }

    /// The `n` low bits of `value`, most significant first.
    fn bits(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }

    /// Unsigned Exp-Golomb code, `ue(v)`.
    fn ue(&mut self, value: u32) {
        let code = value + 1;
        let len = 32 - code.leading_zeros();
        self.bits(0, len - 1);
        self.bits(code, len);
    }

    /// `rbsp_trailing_bits()`: a stop bit, then zero bits to a byte boundary.
    fn into_rbsp(mut self) -> Vec<u8> {
        self.bit(true);
        self.bytes
    }
}

/// Baseline-profile limits from H.264 Table A-1:
/// `(level_idc, MaxMBPS, MaxFS, MaxBR in kbit/s)`.
const LEVELS: &[(u8, u64, u64, u64)] = &[
    (10, 1_485, 99, 64),
    (11, 3_000, 396, 192),
    (12, 6_000, 396, 384),
    (13, 11_880, 396, 768),
    (20, 11_880, 396, 2_000),
    (21, 19_800, 792, 4_000),
    (22, 20_250, 1_620, 4_000),
    (30, 40_500, 1_620, 10_000),
    (31, 108_000, 3_600, 14_000),
    (32, 216_000, 5_120, 20_000),
    (40, 245_760, 8_192, 20_000),
    (41, 245_760, 8_192, 50_000),
    (42, 522_240, 8_704, 50_000),
    (50, 589_824, 22_080, 135_000),
    (51, 983_040, 36_864, 240_000),
];

/// Smallest level whose frame-size, macroblock-rate and bit-rate limits
/// admit our I_PCM stream (384 bytes per macroblock).
fn level_idc(mbs_w: u32, mbs_h: u32, fps: u32) -> u8 {
    let (w, h, fps) = (u64::from(mbs_w), u64::from(mbs_h), u64::from(fps));
    let frame_mbs = w * h;
    let bits_per_sec = frame_mbs * 384 * 8 * fps;
    LEVELS
        .iter()
        .find(|&&(_, max_mbps, max_fs, max_kbps)| {
            frame_mbs <= max_fs
                && w * w <= 8 * max_fs
                && h * h <= 8 * max_fs
                && frame_mbs * fps <= max_mbps
                && bits_per_sec <= max_kbps * 1000
        })
        .map_or(51, |l| l.0)
}

/// Our own sequence parameter set (NAL unit without start code).
///
/// less-avc's SPS always says level 1.0, has no colour description and no
/// `bitstream_restriction`. Without the latter, a spec-following decoder
/// (e.g. Chrome's hardware H.264 path) may hold up to a whole DPB of frames
/// for reordering before it outputs anything. This SPS keeps every field the
/// less-avc slice header depends on (`log2_max_frame_num = 4`,
/// `pic_order_cnt_type = 0`, `log2_max_pic_order_cnt_lsb = 4`) and adds:
/// Constrained Baseline flags, a correct level, cropping to the display
/// size, BT.709 limited-range colour, timing info and
/// `max_num_reorder_frames = 0`.
fn build_sps(width: u32, height: u32, fps: u32) -> Vec<u8> {
    let (mbs_w, mbs_h) = (align16(width) / 16, align16(height) / 16);
    let mut bw = BitWriter::default();
    bw.bits(66, 8); // profile_idc: Baseline
    bw.bits(0b1100_0000, 8); // constraint_set0+1: Constrained Baseline
    bw.bits(u32::from(level_idc(mbs_w, mbs_h, fps)), 8);
    bw.ue(0); // seq_parameter_set_id
    bw.ue(0); // log2_max_frame_num_minus4
    bw.ue(0); // pic_order_cnt_type
    bw.ue(0); // log2_max_pic_order_cnt_lsb_minus4
    bw.ue(0); // max_num_ref_frames (intra only)
    bw.bit(false); // gaps_in_frame_num_value_allowed_flag
    bw.ue(mbs_w - 1); // pic_width_in_mbs_minus1
    bw.ue(mbs_h - 1); // pic_height_in_map_units_minus1
    bw.bit(true); // frame_mbs_only_flag
    bw.bit(true); // direct_8x8_inference_flag

    // Crop offsets are in units of 2 luma samples for 4:2:0.
    let (crop_right, crop_bottom) = ((mbs_w * 16 - width) / 2, (mbs_h * 16 - height) / 2);
    let cropped = crop_right != 0 || crop_bottom != 0;
    bw.bit(cropped); // frame_cropping_flag
    if cropped {
        bw.ue(0); // frame_crop_left_offset
        bw.ue(crop_right);
        bw.ue(0); // frame_crop_top_offset
        bw.ue(crop_bottom);
    }

    bw.bit(true); // vui_parameters_present_flag
    bw.bit(true); // aspect_ratio_info_present_flag
    bw.bits(1, 8); // aspect_ratio_idc: 1:1 square pixels
    bw.bit(false); // overscan_info_present_flag
    bw.bit(true); // video_signal_type_present_flag
    bw.bits(5, 3); // video_format: unspecified
    bw.bit(false); // video_full_range_flag: limited (16..235)
    bw.bit(true); // colour_description_present_flag
    bw.bits(1, 8); // colour_primaries: BT.709
    bw.bits(1, 8); // transfer_characteristics: BT.709
    bw.bits(1, 8); // matrix_coefficients: BT.709
    bw.bit(false); // chroma_loc_info_present_flag
    bw.bit(true); // timing_info_present_flag
    bw.bits(1, 32); // num_units_in_tick
    bw.bits(2 * fps, 32); // time_scale (two ticks per frame)
    bw.bit(true); // fixed_frame_rate_flag
    bw.bit(false); // nal_hrd_parameters_present_flag
    bw.bit(false); // vcl_hrd_parameters_present_flag
    bw.bit(false); // pic_struct_present_flag
    bw.bit(true); // bitstream_restriction_flag
    bw.bit(true); // motion_vectors_over_pic_boundaries_flag
    bw.ue(0); // max_bytes_per_pic_denom: unconstrained
    bw.ue(0); // max_bits_per_mb_denom: unconstrained
    bw.ue(15); // log2_max_mv_length_horizontal
    bw.ue(15); // log2_max_mv_length_vertical
    bw.ue(0); // max_num_reorder_frames: output each frame immediately
    bw.ue(1); // max_dec_frame_buffering

    let rbsp = RbspData { data: bw.into_rbsp() };
    NalUnit::new(NalRefIdc::Three, NalUnitType::SequenceParameterSet, rbsp).to_nal_unit()
}

/// The first bytes of every less-avc IDR slice NAL: the NAL header (0x25)
/// and the 30-bit slice header + `mb_type = I_PCM` + 2 alignment bits.
const LESS_AVC_SLICE_PREFIX: [u8; 5] = [0x25, 0x88, 0x84, 0x28, 0x68];

/// Rewrites the slice header of a less-avc IDR slice NAL so that:
///
/// * `no_output_of_prior_pics_flag = 0` (less-avc sets 1, which allows a
///   decoder to silently drop the previous, not yet output, frame), and
/// * `idr_pic_id` alternates 0/1, as H.264 7.4.3 requires for consecutive
///   IDR pictures (less-avc always writes 0).
///
/// Both variants are exactly 32 bits including `mb_type` and the
/// `pcm_alignment_zero_bit`s and contain no zero byte, so the I_PCM payload
/// and its emulation-prevention bytes are untouched.
fn patch_slice_header(nal: &mut [u8], frame_index: usize) {
    // Decoded fields, in order: first_mb_in_slice=0, slice_type=7, pps_id=0,
    // frame_num=0 (4 bits), idr_pic_id, pic_order_cnt_lsb=0 (4 bits),
    // no_output_of_prior_pics=0, long_term_reference=0, slice_qp_delta=0,
    // mb_type=25 (I_PCM), alignment.
    const IDR_PIC_ID_0: [u8; 4] = [0x88, 0x84, 0x08, 0x68];
    const IDR_PIC_ID_1: [u8; 4] = [0x88, 0x82, 0x02, 0x1a];
    assert!(nal.starts_with(&LESS_AVC_SLICE_PREFIX), "unexpected less-avc slice header; was the crate upgraded?");
    let header = if frame_index.is_multiple_of(2) { IDR_PIC_ID_0 } else { IDR_PIC_ID_1 };
    nal[1..5].copy_from_slice(&header);
}

/// Planar 4:2:0 frame buffers at the 16-aligned coded size.
struct Yuv420 {
    width: usize,
    height: usize,
    y: Vec<u8>,
    cb: Vec<u8>,
    cr: Vec<u8>,
}

impl Yuv420 {
    fn new(width: u32, height: u32) -> Self {
        let (width, height) = (width as usize, height as usize);
        Self {
            width,
            height,
            y: vec![0; width * height],
            cb: vec![0; width * height / 4],
            cr: vec![0; width * height / 4],
        }
    }

    /// Renders one frame. `u, v` are normalised to the *display* size so the
    /// padding outside it (cropped away by the SPS) just continues the picture.
    fn render(&mut self, shader: &Shader, display_w: u32, display_h: u32) {
        let (w, cw) = (self.width, self.width / 2);
        let mut rows = [vec![[0f32; 3]; w], vec![[0f32; 3]; w]];
        for cy in 0..self.height / 2 {
            for (dy, row) in rows.iter_mut().enumerate() {
                let y = 2 * cy + dy;
                let v = (y as f32 + 0.5) / display_h as f32;
                for (x, px) in row.iter_mut().enumerate() {
                    let u = (x as f32 + 0.5) / display_w as f32;
                    *px = shader.shade(u, v).map(|c| c.clamp(0.0, 1.0));
                    self.y[y * w + x] = luma(*px);
                }
            }
            for cx in 0..cw {
                let quad = [rows[0][2 * cx], rows[0][2 * cx + 1], rows[1][2 * cx], rows[1][2 * cx + 1]];
                let avg = [0, 1, 2].map(|i| quad.iter().map(|p| p[i]).sum::<f32>() / 4.0);
                let (cb, cr) = chroma(avg);
                self.cb[cy * cw + cx] = cb;
                self.cr[cy * cw + cx] = cr;
            }
        }
    }

    fn image(&self) -> YCbCrImage<'_> {
        fn plane(data: &[u8], stride: usize) -> DataPlane<'_> {
            DataPlane { data, stride, bit_depth: BitDepth::Depth8 }
        }
        YCbCrImage {
            planes: Planes::YCbCr((
                plane(&self.y, self.width),
                plane(&self.cb, self.width / 2),
                plane(&self.cr, self.width / 2),
            )),
            width: self.width as u32,
            height: self.height as u32,
        }
    }
}

// BT.709 luma coefficients; limited ("studio") range output.
const KR: f32 = 0.2126;
const KB: f32 = 0.0722;
const KG: f32 = 1.0 - KR - KB;

fn luma_f([r, g, b]: [f32; 3]) -> f32 {
    KR * r + KG * g + KB * b
}

fn luma(rgb: [f32; 3]) -> u8 {
    (16.0 + 219.0 * luma_f(rgb) + 0.5) as u8
}

fn chroma(rgb: [f32; 3]) -> (u8, u8) {
    let y = luma_f(rgb);
    let cb = (rgb[2] - y) / (2.0 * (1.0 - KB));
    let cr = (rgb[0] - y) / (2.0 * (1.0 - KR));
    let q = |c: f32| (128.0 + 224.0 * c + 0.5).clamp(16.0, 240.0) as u8;
    (q(cb), q(cr))
}

/// Converts a NAL unit (no start code) into one AVCC length-prefixed unit.
fn avcc(nal: &[u8]) -> Vec<u8> {
    let len = u32::try_from(nal.len()).expect("NAL unit larger than 4 GiB");
    let mut out = Vec::with_capacity(nal.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(nal);
    out
}

// ---------------------------------------------------------------------------
// MP4
// ---------------------------------------------------------------------------

/// A short, browser-playable H.264 MP4 whose content derives from the prompt.
///
/// See the module docs for the size, frame-rate and duration rules:
/// `render_mp4(p, 320, 180, 5)` is 320x180, 4 fps, 20 frames, exactly 5 s.
pub fn render_mp4(prompt: &str, width: u32, height: u32, duration_secs: u32) -> Vec<u8> {
    encode_mp4(prompt, width, height, duration_secs).expect("MP4 encoding into memory failed")
}

/// Errors from less-avc or mp4; neither is expected for in-memory output.
type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn encode_mp4(prompt: &str, width: u32, height: u32, duration_secs: u32) -> Result<Vec<u8>, AnyError> {
    let (width, height) = mp4_size(width, height);
    let fps = mp4_fps(width, height);
    let duration_secs = duration_secs.clamp(1, 15);
    let frame_count = (fps * duration_secs) as usize;
    let sample_duration = TIMESCALE / fps;

    let scene = Scene::from_prompt(prompt);
    let mut yuv = Yuv420::new(align16(width), align16(height));
    let render_frame = |yuv: &mut Yuv420, i: usize| {
        let t = FrameTime { seconds: i as f32 / fps as f32, progress: i as f32 / frame_count as f32 };
        yuv.render(&scene.frame(width, height, Some(t)), width, height);
    };

    // less-avc is given the 16-aligned size, so it neither crops nor pads;
    // cropping to the display size is done by our own SPS.
    render_frame(&mut yuv, 0);
    let (initial, mut encoder) = LessEncoder::new(&yuv.image())?;
    let config = AvcConfig {
        width: width as u16,
        height: height as u16,
        seq_param_set: build_sps(width, height, fps),
        pic_param_set: initial.pps.to_nal_unit(),
    };

    let mut writer = Mp4Writer::write_start(
        Cursor::new(Vec::new()),
        &Mp4Config {
            major_brand: "isom".parse().unwrap(),
            minor_version: 512,
            compatible_brands: ["isom", "iso2", "avc1", "mp41"].map(|b| b.parse().unwrap()).to_vec(),
            timescale: TIMESCALE,
        },
    )?;
    writer.add_track(&TrackConfig {
        track_type: TrackType::Video,
        timescale: TIMESCALE,
        language: "und".to_string(),
        media_conf: MediaConfig::AvcConfig(config),
    })?;

    let mut frame_nal = initial.frame.to_nal_unit();
    for i in 0..frame_count {
        if i > 0 {
            render_frame(&mut yuv, i);
            frame_nal = encoder.encode(&yuv.image())?.to_nal_unit();
        }
        patch_slice_header(&mut frame_nal, i);
        writer.write_sample(
            1,
            &Mp4Sample {
                start_time: i as u64 * u64::from(sample_duration),
                duration: sample_duration,
                rendering_offset: 0,
                is_sync: true,
                bytes: avcc(&frame_nal).into(),
            },
        )?;
    }
    writer.write_end()?;
    Ok(faststart(writer.into_writer().into_inner())?)
}

/// Moves `moov` in front of `mdat` ("faststart") so browsers can start
/// playback without fetching the end of the file, shifting the chunk
/// offsets accordingly. Mp4Writer's layout is `ftyp | mdat | moov`.
fn faststart(file: Vec<u8>) -> mp4::Result<Vec<u8>> {
    // Locate the top-level boxes.
    let mut boxes = Vec::new(); // (type, start, size)
    let mut reader = Cursor::new(&file[..]);
    let mut pos = 0u64;
    while pos < file.len() as u64 {
        reader.seek(SeekFrom::Start(pos))?;
        let header = BoxHeader::read(&mut reader)?;
        if header.size < 8 {
            return Err(mp4::Error::InvalidData("bad top-level box size"));
        }
        boxes.push((header.name, pos, header.size));
        pos += header.size;
    }
    let Some(&(_, moov_start, moov_size)) = boxes.iter().find(|b| b.0 == BoxType::MoovBox) else {
        return Err(mp4::Error::BoxNotFound(BoxType::MoovBox));
    };
    let Some(mdat_index) = boxes.iter().position(|b| b.0 == BoxType::MdatBox) else {
        return Err(mp4::Error::BoxNotFound(BoxType::MdatBox));
    };

    reader.seek(SeekFrom::Start(moov_start + 8))?;
    let mut moov = MoovBox::read_box(&mut reader, moov_size)?;
    // Patching offsets does not change the box size.
    let shift = moov.box_size();
    for trak in &mut moov.traks {
        let stbl = &mut trak.mdia.minf.stbl;
        if let Some(stco) = &mut stbl.stco {
            for offset in &mut stco.entries {
                *offset = u32::try_from(u64::from(*offset) + shift)
                    .map_err(|_| mp4::Error::InvalidData("chunk offset overflow"))?;
            }
        }
        if let Some(co64) = &mut stbl.co64 {
            for offset in &mut co64.entries {
                *offset += shift;
            }
        }
    }

    let mut out = Vec::with_capacity(file.len());
    for (i, &(name, start, size)) in boxes.iter().enumerate() {
        if i == mdat_index {
            moov.write_box(&mut out)?;
        }
        if name != BoxType::MoovBox {
            out.extend_from_slice(&file[start as usize..(start + size) as usize]);
        }
    }
    debug_assert_eq!(out.len(), file.len());
    Ok(out)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
        let info = reader.next_frame(&mut buf).expect("PNG data");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn png_has_requested_size_and_is_deterministic() {
        for (w, h) in [(16, 16), (17, 31), (320, 180), (180, 320), (1024, 64)] {
            let bytes = render_png("a cat", w, h);
            let (dw, dh, pixels) = decode_png(&bytes);
            assert_eq!((dw, dh), (w, h));
            assert_eq!(pixels.len(), (w * h * 3) as usize);
            assert_eq!(bytes, render_png("a cat", w, h), "not deterministic at {w}x{h}");
        }
    }

    #[test]
    fn png_differs_between_prompts() {
        let (_, _, cat) = decode_png(&render_png("a cat", 64, 48));
        let (_, _, dog) = decode_png(&render_png("a dog", 64, 48));
        let differing = cat.iter().zip(&dog).filter(|(a, b)| a.abs_diff(**b) > 16).count();
        assert!(differing > cat.len() / 4, "only {differing} of {} bytes differ", cat.len());
    }

    #[test]
    fn png_is_not_flat() {
        let (_, _, px) = decode_png(&render_png("sunset", 128, 128));
        let (min, max) = px.iter().fold((255, 0), |(lo, hi), &p| (p.min(lo), p.max(hi)));
        assert!(max - min > 64, "image looks flat: {min}..{max}");
    }

    #[test]
    fn png_large_sizes_do_not_panic() {
        let (w, h, _) = decode_png(&render_png("wide", 4096, 16));
        assert_eq!((w, h), (4096, 16));
        let (w, h, _) = decode_png(&render_png("clamped", 0, 9000));
        assert_eq!((w, h), (1, PNG_MAX_SIDE));
    }

    struct Probe {
        codec: String,
        width: u16,
        height: u16,
        duration_ms: u128,
        samples: u32,
        sync_samples: u32,
    }

    fn probe(bytes: &[u8]) -> Probe {
        let mut reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64).expect("parse");
        assert_eq!(reader.tracks().len(), 1, "expected exactly one track");
        let track = reader.tracks().values().next().unwrap();
        assert_eq!(track.track_type().unwrap(), TrackType::Video);
        let (id, samples) = (track.track_id(), track.sample_count());
        let mut probe = Probe {
            codec: track.box_type().unwrap().to_string(),
            width: track.width(),
            height: track.height(),
            duration_ms: track.duration().as_millis(),
            samples,
            sync_samples: 0,
        };
        for sample_id in 1..=samples {
            let sample = reader.read_sample(id, sample_id).unwrap().expect("sample");
            // Each sample is exactly one AVCC NAL unit: an IDR slice.
            let len = u32::from_be_bytes(sample.bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(len + 4, sample.bytes.len());
            assert_eq!(sample.bytes[4] & 0x1f, 5, "not an IDR slice");
            probe.sync_samples += u32::from(sample.is_sync);
        }
        probe
    }

    #[test]
    fn mp4_track_matches_request() {
        for (w, h, secs) in [(320, 180, 5), (180, 320, 1), (16, 16, 15), (640, 360, 3), (100, 50, 2)] {
            let bytes = render_mp4("a cat", w, h, secs);
            let p = probe(&bytes);
            let fps = mp4_fps(w, h);
            assert_eq!(p.codec, "avc1");
            assert_eq!((u32::from(p.width), u32::from(p.height)), (w, h));
            let frame_ms = 1000 / u128::from(fps);
            assert!(p.duration_ms.abs_diff(u128::from(secs) * 1000) < frame_ms, "{}", p.duration_ms);
            assert_eq!(p.samples, fps * secs);
            assert_eq!(p.sync_samples, p.samples);
            // moov must precede mdat (faststart).
            let moov = bytes.windows(4).position(|w| w == b"moov").unwrap();
            let mdat = bytes.windows(4).position(|w| w == b"mdat").unwrap();
            assert!(moov < mdat);
        }
    }

    #[test]
    fn mp4_size_rules() {
        assert_eq!(mp4_size(320, 180), (320, 180));
        assert_eq!(mp4_size(321, 181), (320, 180));
        assert_eq!(mp4_size(1920, 1080), (640, 360));
        assert_eq!(mp4_size(0, 5000), (16, 640));
        assert_eq!(mp4_fps(320, 180), 4);
        assert_eq!(mp4_fps(640, 360), 2);
        let p = probe(&render_mp4("odd", 33, 17, 1));
        assert_eq!((p.width, p.height), (32, 16));
    }

    #[test]
    fn mp4_is_deterministic_and_prompt_dependent() {
        let cat = render_mp4("a cat", 64, 48, 1);
        assert_eq!(cat, render_mp4("a cat", 64, 48, 1));
        assert_ne!(cat, render_mp4("a dog", 64, 48, 1));
    }

    #[test]
    fn mp4_frames_are_animated() {
        let bytes = render_mp4("motion", 64, 48, 1);
        let mut reader = mp4::Mp4Reader::read_header(Cursor::new(&bytes[..]), bytes.len() as u64).unwrap();
        let first = reader.read_sample(1, 1).unwrap().unwrap().bytes;
        let second = reader.read_sample(1, 2).unwrap().unwrap().bytes;
        // Skip the header bytes, which differ by design (idr_pic_id).
        assert_ne!(first[9..], second[9..]);
    }

    #[test]
    fn sps_is_well_formed() {
        let sps = build_sps(320, 180, 4);
        assert_eq!(sps[0], 0x67, "NAL header: ref_idc 3, type 7");
        assert_eq!(&sps[1..3], &[66, 0xc0], "Constrained Baseline");
        assert_eq!(sps[3], 21, "320x192 @ 4 fps I_PCM needs level 2.1");
        assert_eq!(level_idc(40, 40, 2), 30);
    }

    #[test]
    fn exp_golomb() {
        let mut bw = BitWriter::default();
        bw.ue(0); // 1
        bw.ue(7); // 0001000
        bw.ue(25); // 000011010
        assert_eq!(bw.into_rbsp(), [0b1000_1000, 0b0000_1101, 0b0100_0000]);
    }
}
