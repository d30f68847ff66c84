//! The embedded adapters on one data folder: what `genrelay-dev` and the tests run on.

use std::path::Path;
use std::sync::Arc;

use genrelay_core::ports::{Clock, NoMetrics, Provider, SweptDeliveries, SystemClock, UlidGenerator};
use genrelay_egress::Egress;
use genrelay_embedded::{Database, FileBlobStore, PRIORITY_LANE, STANDARD_LANE, SqliteQueue, SqliteStore};
use genrelay_engine::{ChannelRegistry, Deps, DispatchQueues, Engine, Settings, Webhooks};
use genrelay_providers::{MockConfig, MockProvider, StoredChannels};

use genrelay_webhook_sender::HttpWebhookSender;

use crate::ConfigError;
use crate::config::webhook_secrets_from_env;

#[derive(Clone)]
pub struct Embedded {
    pub store: SqliteStore,
    pub priority_queue: SqliteQueue,
    pub standard_queue: SqliteQueue,
    pub blobs: FileBlobStore,
}

impl Embedded {
    /// Opens `data_dir/genrelay.db` and `data_dir/blobs`; signed URLs start with `public_url`.
    pub fn open(data_dir: &Path, public_url: &str) -> Result<Self, ConfigError> {
        std::fs::create_dir_all(data_dir).map_err(genrelay_core::Error::internal)?;
        let db = Database::open(&data_dir.join("genrelay.db"))?;
        Ok(Self {
            store: SqliteStore::new(db.clone()),
            priority_queue: SqliteQueue::new(db.clone(), PRIORITY_LANE),
            standard_queue: SqliteQueue::new(db, STANDARD_LANE),
            blobs: FileBlobStore::open(&data_dir.join("blobs"), public_url)?,
        })
    }

    /// The engine's dependencies on these adapters, with the mock provider for every
    /// capability and the given clock.
    pub fn deps(&self, mock: MockConfig, clock: Arc<dyn Clock>) -> Deps {
        let mock = Arc::new(MockProvider::new(mock, clock.clone()));
        Deps {
            jobs: Arc::new(self.store.clone()),
            assets: Arc::new(self.store.clone()),
            blobs: Arc::new(self.blobs.clone()),
            queues: DispatchQueues {
                priority: Arc::new(self.priority_queue.clone()),
                standard: Arc::new(self.standard_queue.clone()),
            },
            clock,
            ids: Arc::new(UlidGenerator),
            metrics: Arc::new(NoMetrics),
            channels: ChannelRegistry::all_to(mock),
            ledger: Arc::new(self.store.clone()),
            documents: Arc::new(self.store.clone()),
            webhooks: Webhooks {
                store: Arc::new(self.store.clone()),
                sender: Arc::new(HttpWebhookSender::new(Egress::public_only(), webhook_secrets_from_env())),
                // The dev server sweeps due deliveries.
                scheduler: Arc::new(SweptDeliveries),
            },
        }
    }

    /// An engine on these adapters with the mock provider, on the wall clock.
    pub fn engine(&self, mock: MockConfig, settings: Settings) -> Engine {
        self.engine_with_mock(Some(mock), &Egress::public_only(), settings)
    }

    /// An engine on these adapters, on the wall clock, with the mock provider if switched on
    /// (for the capabilities no channel serves). `egress` guards what clients name by URL.
    /// Its channels come from [`Embedded::stored_channels`] once it is given them as its
    /// source.
    pub fn engine_with_mock(&self, mock: Option<MockConfig>, egress: &Egress, settings: Settings) -> Engine {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut deps = self.deps(mock.clone().unwrap_or_default(), clock.clone());
        deps.webhooks.sender = Arc::new(HttpWebhookSender::new(egress.clone(), webhook_secrets_from_env()));
        let mock = mock
            .map(|mock| -> Arc<dyn Provider> { Arc::new(MockProvider::new(mock, clock).with_egress(egress.clone())) });
        deps.channels = ChannelRegistry::new([], mock);
        Engine::new(deps, settings)
    }

    /// The channels stored in this database, their credentials in its secrets table.
    pub fn stored_channels(&self, egress: &Egress) -> StoredChannels {
        crate::config::stored_channels(Arc::new(self.store.clone()), Arc::new(self.store.clone()), egress)
    }
}
