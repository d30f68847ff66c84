//! Where the bytes of assets are kept, and how they stream.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;

use async_trait::async_trait;

use crate::asset::BlobKey;
use crate::error::Result;

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<()>;

    async fn delete(&self, key: &BlobKey) -> Result<()>;

    /// A URL that serves the bytes, with `content_type` and a download file name, to anyone
    /// holding it until it expires after `ttl`.
    async fn presign_get(&self, key: &BlobKey, content_type: &str, file_name: &str, ttl: Duration) -> Result<String>;

    /// A URL to which a client PUTs the bytes of `key` (with the returned headers) until it
    /// expires after `ttl`.
    async fn presign_put(&self, key: &BlobKey, content_type: &str, ttl: Duration) -> Result<PresignedUpload>;

    /// Stores what `body` yields under `key`, streamed (in parts above a threshold), and
    /// answers what was stored. More than `max_bytes` is refused with `Invalid` and nothing
    /// stays stored.
    async fn put_stream(
        &self,
        key: &BlobKey,
        body: ByteStream,
        content_type: &str,
        max_bytes: u64,
    ) -> Result<StoredBlob>;

    /// What is stored under `key`, read as a stream (memory does not grow with the size), or
    /// `None` if nothing is.
    async fn describe(&self, key: &BlobKey) -> Result<Option<StoredBlob>>;
}

/// Where and how to upload a file directly to blob storage.
#[derive(Debug, Clone)]
pub struct PresignedUpload {
    pub url: String,
    /// Headers the upload request must carry (they are part of the signature).
    pub headers: Vec<(String, String)>,
}

/// A stored blob as found in storage.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBlob {
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// The first bytes (up to `STORED_BLOB_HEAD`), to recognise the content type.
    pub head: Vec<u8>,
}

/// How many leading bytes `BlobStore::describe` returns.
pub const STORED_BLOB_HEAD: usize = 8192;

/// Follows bytes as they stream by: size, SHA-256 and the first `STORED_BLOB_HEAD` bytes, in
/// constant memory.
#[derive(Default)]
pub struct Digester {
    hasher: sha2::Sha256,
    head: Vec<u8>,
    size: u64,
}

impl Digester {
    /// Takes the next chunk; refuses to go past `max_bytes`.
    pub fn update(&mut self, chunk: &[u8], max_bytes: u64) -> Result<()> {
        use sha2::Digest;
        self.size = within_limit(self.size, chunk, max_bytes)?;
        self.hasher.update(chunk);
        let room = STORED_BLOB_HEAD.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        Ok(())
    }

    pub fn finish(self) -> StoredBlob {
        use sha2::Digest;
        StoredBlob { size: self.size, sha256: hex::encode(self.hasher.finalize()), head: self.head }
    }
}

/// The size after `chunk`, unless that is past `max_bytes`.
fn within_limit(size: u64, chunk: &[u8], max_bytes: u64) -> Result<u64> {
    let size = size + chunk.len() as u64;
    if size > max_bytes {
        return Err(crate::Error::invalid(format!("the file is larger than {max_bytes} bytes")));
    }
    Ok(size)
}

/// Chunks of a stream handed to a blocking thread that consumes them as they come (hashing them,
/// writing them), shared rather than copied. A few chunks wait at most: a slower consumer holds
/// the stream back. Dropped unfinished, the thread sees the chunks end.
pub struct ChunkThread<T> {
    chunks: tokio::sync::mpsc::Sender<Bytes>,
    ended: tokio::task::JoinHandle<T>,
}

/// How many chunks may wait for a [`ChunkThread`].
const CHUNKS_WAITING: usize = 8;

impl<T: Send + 'static> ChunkThread<T> {
    /// Starts `consume` on the blocking pool with the chunks to come.
    pub fn spawn(consume: impl FnOnce(&mut dyn Iterator<Item = Bytes>) -> T + Send + 'static) -> Self {
        let (chunks, mut received) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_WAITING);
        let ended = tokio::task::spawn_blocking(move || consume(&mut std::iter::from_fn(|| received.blocking_recv())));
        Self { chunks, ended }
    }

    /// Hands a chunk over; false once the consumer has stopped (its answer says why).
    pub async fn send(&self, chunk: Bytes) -> bool {
        self.chunks.send(chunk).await.is_ok()
    }

    /// The consumer's answer, once it has taken every chunk.
    pub async fn finish(self) -> Result<T> {
        drop(self.chunks);
        self.ended.await.map_err(crate::Error::internal)
    }
}

/// A [`Digester`] on a [`ChunkThread`], so that hashing runs beside the storing rather than
/// between the chunks of it; the limit is still refused at once, by the streaming task.
pub struct BackgroundDigester {
    size: u64,
    max_bytes: u64,
    hasher: ChunkThread<StoredBlob>,
}

impl BackgroundDigester {
    pub fn start(max_bytes: u64) -> Self {
        let hasher = ChunkThread::spawn(|chunks| {
            let mut digest = Digester::default();
            for chunk in chunks {
                digest.update(&chunk, u64::MAX).expect("no limit");
            }
            digest.finish()
        });
        Self { size: 0, max_bytes, hasher }
    }

    /// Takes the next chunk; refuses to go past `max_bytes`.
    pub async fn update(&mut self, chunk: &Bytes) -> Result<()> {
        self.size = within_limit(self.size, chunk, self.max_bytes)?;
        match self.hasher.send(chunk.clone()).await {
            true => Ok(()),
            false => Err(crate::Error::internal("the hashing thread stopped")),
        }
    }

    /// What the chunks were, once the hasher has caught up.
    pub async fn finish(self) -> Result<StoredBlob> {
        self.hasher.finish().await
    }
}

/// Bytes read as they arrive, so a file never has to fit in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A whole buffer as a `ByteStream`.
pub fn stream_of(bytes: Vec<u8>) -> ByteStream {
    Box::pin(futures_util::stream::iter([Ok(Bytes::from(bytes))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashing_in_the_background_gives_what_hashing_inline_gives() {
        let chunks: Vec<Bytes> = (0..40u8).map(|i| Bytes::from(vec![i; 1000 + i as usize * 37])).collect();
        let mut inline = Digester::default();
        let mut background = BackgroundDigester::start(u64::MAX);
        for chunk in &chunks {
            inline.update(chunk, u64::MAX).unwrap();
            background.update(chunk).await.unwrap();
        }
        let (inline, background) = (inline.finish(), background.finish().await.unwrap());
        assert_eq!(background, inline);
        assert_eq!(background.head.len(), STORED_BLOB_HEAD);
    }

    #[tokio::test]
    async fn hashing_in_the_background_refuses_past_the_limit_at_once() {
        let mut digest = BackgroundDigester::start(1500);
        digest.update(&Bytes::from(vec![1; 1000])).await.unwrap();
        let refused = digest.update(&Bytes::from(vec![2; 501])).await.unwrap_err();
        assert!(matches!(refused, crate::Error::Invalid(_)), "{refused:?}");
    }
}
