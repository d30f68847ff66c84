//! Clients of the upstream generators, one module each, behind the core `Provider` port.
//! For now: the built-in `mock` provider, which makes real media locally.

pub mod mock;

pub use mock::{MockConfig, MockProvider};
