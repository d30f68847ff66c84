//! genrelay integration tests, compiled as one binary: the open API through its routers on the
//! embedded adapters, the engine's lifecycle, the adapter contract, and the Lambda sample
//! events under `events/`.

mod assets;
mod auth;
mod back_office;
mod capacity;
mod channels;
mod comfyui;
mod contract;
mod events;
mod evolink;
mod faults;
mod hostile;
mod idempotency;
mod inference;
mod isolation;
mod jimeng;
mod jobs;
mod lifecycle;
mod meitu;
mod meitu_console;
mod meta;
mod on_aws;
mod outages;
mod races;
mod retouch;
mod routes;
mod runninghub;
mod scripted;
mod seedance;
mod surfaces;
mod template;
mod throttled;
mod upstream_faults;
mod webhooks;
mod yunxiu;
