//! Clients of the upstream generators, one module each, behind the core `Provider` port, and
//! the built-in `mock` provider, which makes real media locally.

pub mod comfyui;
pub mod config;
pub mod evolink;
mod http;
pub mod inference;
pub mod jimeng;
pub mod meitu;
pub mod mock;
pub mod runninghub;
pub mod seedance;
pub mod stored;
pub mod yunxiu;

pub use comfyui::{ComfyConfig, ComfyUi};
pub use config::ProvidersConfig;
pub use evolink::{EvoLink, EvoLinkConfig};
pub use inference::{InferenceConfig, InferenceServer};
pub use jimeng::{Jimeng, JimengConfig};
pub use meitu::{Meitu, MeituConfig};
pub use mock::{MockConfig, MockProvider};
pub use runninghub::{RunningHub, RunningHubConfig};
pub use seedance::{Seedance, SeedanceConfig};
pub use stored::{ProbeReport, StoredChannels};
pub use yunxiu::{Yunxiu, YunxiuConfig};
