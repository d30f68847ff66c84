//! Stored files in S3: objects keyed `<client>/<asset id>/<file name>`, encrypted at rest,
//! downloaded through presigned GETs that set the content type and file name of the response.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use genrelay_core::asset::content_disposition;
use genrelay_core::ports::{BlobStore, PresignedUpload, STORED_BLOB_HEAD, StoredBlob};
use genrelay_core::{BlobKey, Error, Result};
use sha2::{Digest, Sha256};

use crate::errors::{sdk, service};

#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk("PutObject", e))?;
        Ok(())
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| sdk("DeleteObject", e))?;
        Ok(())
    }

    async fn presign_get(&self, key: &BlobKey, content_type: &str, file_name: &str, ttl: Duration) -> Result<String> {
        let config = PresigningConfig::expires_in(ttl).map_err(Error::internal)?;
        let disposition = content_disposition(content_type, file_name);
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .response_content_type(content_type)
            .response_content_disposition(disposition)
            .presigned(config)
            .await
            .map_err(|e| sdk("PresignGetObject", e))?;
        Ok(request.uri().to_owned())
    }

    async fn presign_put(&self, key: &BlobKey, content_type: &str, ttl: Duration) -> Result<PresignedUpload> {
        let config = PresigningConfig::expires_in(ttl).map_err(Error::internal)?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| sdk("PresignPutObject", e))?;
        let headers = request.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
        Ok(PresignedUpload { url: request.uri().to_owned(), headers })
    }

    async fn describe(&self, key: &BlobKey) -> Result<Option<StoredBlob>> {
        let result = self.client.get_object().bucket(&self.bucket).key(key.as_str()).send().await;
        let mut body = match result {
            Ok(output) => output.body,
            Err(error) => {
                return match error.into_service_error() {
                    GetObjectError::NoSuchKey(_) => Ok(None),
                    other => Err(service("GetObject", other)),
                };
            }
        };
        let mut hasher = Sha256::new();
        let mut head = Vec::new();
        let mut size = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(Error::internal)? {
            hasher.update(&chunk);
            let room = STORED_BLOB_HEAD.saturating_sub(head.len());
            head.extend_from_slice(&chunk[..room.min(chunk.len())]);
            size += chunk.len() as u64;
        }
        Ok(Some(StoredBlob { size, sha256: hex::encode(hasher.finalize()), head }))
    }
}
