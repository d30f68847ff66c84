//! genrelay's wire format, in one place: what clients of the open API send and read, and what
//! webhook receivers read. `genrelay-http` answers with it; `genrelay-webhook-sender` sends it.

pub mod job_body;
pub mod paths;
pub mod views;
pub mod webhook;
