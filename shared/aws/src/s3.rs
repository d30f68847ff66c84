//! Stored files in S3: objects keyed `<client>/<asset id>/<file name>`, encrypted at rest,
//! downloaded through presigned GETs that set the content type and file name of the response.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use genrelay_core::asset::content_disposition;
use genrelay_core::ports::{
    BackgroundDigester, BlobStore, ByteStream as FileStream, Digester, PresignedUpload, StoredBlob,
};
use genrelay_core::{BlobKey, Error, Result};

use crate::errors::{sdk, service};

/// The size of multipart upload parts (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    async fn start_multipart(&self, key: &BlobKey, content_type: &str) -> Result<String> {
        let output = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| sdk("CreateMultipartUpload", e))?;
        output.upload_id.ok_or_else(|| Error::internal("CreateMultipartUpload returned no upload id"))
    }

    async fn upload_part(&self, key: &BlobKey, upload_id: &str, number: i32, bytes: Bytes) -> Result<CompletedPart> {
        let output = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk("UploadPart", e))?;
        Ok(CompletedPart::builder().part_number(number).set_e_tag(output.e_tag).build())
    }

    async fn put_object(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> Result<()> {
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
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.put_object(key, bytes.into(), content_type).await
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

    /// Small files in one PutObject; larger ones as a multipart upload of `PART_SIZE` parts, so
    /// memory holds one part whatever the file's size: one buffer, which each part reuses once
    /// the upload before it has let go of it. A failed multipart upload is aborted.
    async fn put_stream(
        &self,
        key: &BlobKey,
        mut body: FileStream,
        content_type: &str,
        max_bytes: u64,
    ) -> Result<StoredBlob> {
        let mut digest = BackgroundDigester::start(max_bytes);
        let mut part = BytesMut::with_capacity(PART_SIZE);
        let mut upload: Option<(String, Vec<CompletedPart>)> = None;
        let result: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::Unavailable(format!("reading the file failed: {e}")))?;
                digest.update(&chunk).await?;
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let (now, later) = rest.split_at(rest.len().min(PART_SIZE - part.len()));
                    part.extend_from_slice(now);
                    rest = later;
                    if part.len() == PART_SIZE {
                        let (upload_id, parts) = match &mut upload {
                            Some(upload) => upload,
                            None => upload.insert((self.start_multipart(key, content_type).await?, Vec::new())),
                        };
                        let number = parts.len() as i32 + 1;
                        parts.push(self.upload_part(key, upload_id, number, part.split().freeze()).await?);
                        part.reserve(PART_SIZE);
                    }
                }
            }
            match upload.take() {
                None => self.put_object(key, part.split().freeze(), content_type).await,
                Some((upload_id, mut parts)) => {
                    if !part.is_empty() {
                        let number = parts.len() as i32 + 1;
                        parts.push(self.upload_part(key, &upload_id, number, part.split().freeze()).await?);
                    }
                    let completed = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
                    let done = self
                        .client
                        .complete_multipart_upload()
                        .bucket(&self.bucket)
                        .key(key.as_str())
                        .upload_id(&upload_id)
                        .multipart_upload(completed)
                        .send()
                        .await
                        .map_err(|e| sdk("CompleteMultipartUpload", e));
                    if done.is_err() {
                        upload = Some((upload_id, Vec::new()));
                    }
                    done.map(|_| ())
                }
            }
        }
        .await;
        if let Err(error) = result {
            if let Some((upload_id, _)) = upload {
                let abort =
                    self.client.abort_multipart_upload().bucket(&self.bucket).key(key.as_str()).upload_id(upload_id);
                if let Err(abort_error) = abort.send().await {
                    tracing::warn!(key = key.as_str(), error = %sdk("AbortMultipartUpload", abort_error), "multipart upload left open");
                }
            }
            return Err(error);
        }
        digest.finish().await
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
        let mut digest = Digester::default();
        while let Some(chunk) = body.try_next().await.map_err(Error::internal)? {
            digest.update(&chunk, u64::MAX)?;
        }
        Ok(Some(digest.finish()))
    }
}
