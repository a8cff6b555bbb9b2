//! The policy set in a versioned S3 bucket.
//!
//! The evaluate function asks for the object's ETag first and downloads only
//! when it changed, so a warm function costs one `HeadObject` per
//! evaluation. Versions let it fall back to the newest version that is
//! valid when someone uploads a broken one.

use std::future::Future;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::Error;
use crate::config::Aws;

/// One version of the policy object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyObject {
    pub body: String,
    pub etag: String,
    /// `None` when the bucket is not versioned.
    pub version_id: Option<String>,
}

/// Where policies come from.
pub trait PolicySource {
    /// The current ETag of the object.
    fn etag(&self, bucket: &str, key: &str) -> impl Future<Output = Result<String, Error>> + Send;

    /// The current version of the object.
    fn fetch(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<PolicyObject, Error>> + Send;

    /// Version ids of the object, newest first.
    fn versions(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    fn fetch_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> impl Future<Output = Result<PolicyObject, Error>> + Send;
}

/// [`PolicySource`] on S3.
#[derive(Debug, Clone)]
pub struct S3PolicySource {
    client: Client,
}

impl S3PolicySource {
    pub fn new(aws: &Aws) -> S3PolicySource {
        S3PolicySource {
            client: Client::new(aws.sdk_config()),
        }
    }

    /// Uploads a new version. Not part of [`PolicySource`]: evaluate only
    /// reads policies; operators (`cargo xtask policy push`) write them.
    pub async fn put(&self, bucket: &str, key: &str, body: &str) -> Result<PolicyObject, Error> {
        let output = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|error| Error::from_sdk("PutObject", error))?;
        Ok(PolicyObject {
            body: body.to_owned(),
            etag: output.e_tag.unwrap_or_default(),
            version_id: output.version_id,
        })
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<PolicyObject, Error> {
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|error| Error::from_sdk("GetObject", error))?;
        let etag = output.e_tag.clone().unwrap_or_default();
        let version_id = output.version_id.clone();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| Error::Transport {
                operation: "GetObject",
                message: format!("reading s3://{bucket}/{key}: {error}"),
            })?;
        let body = String::from_utf8(bytes.to_vec()).map_err(|_| Error::Corrupt {
            what: "policy object",
            key: format!("s3://{bucket}/{key}"),
            message: "not UTF-8 text".into(),
        })?;
        Ok(PolicyObject {
            body,
            etag,
            version_id,
        })
    }
}

impl PolicySource for S3PolicySource {
    async fn etag(&self, bucket: &str, key: &str) -> Result<String, Error> {
        let output = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| Error::from_sdk("HeadObject", error))?;
        Ok(output.e_tag.unwrap_or_default())
    }

    async fn fetch(&self, bucket: &str, key: &str) -> Result<PolicyObject, Error> {
        self.get(bucket, key, None).await
    }

    async fn versions(&self, bucket: &str, key: &str) -> Result<Vec<String>, Error> {
        let mut versions = Vec::new();
        let mut key_marker = None;
        let mut version_marker = None;
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .prefix(key)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(|error| Error::from_sdk("ListObjectVersions", error))?;
            let mut listed: Vec<_> = page
                .versions()
                .iter()
                .filter(|version| version.key() == Some(key))
                .filter_map(|version| Some((version.last_modified?, version.version_id.clone()?)))
                .collect();
            listed.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
            versions.extend(listed.into_iter().map(|(_, id)| id));
            if page.is_truncated != Some(true) {
                return Ok(versions);
            }
            key_marker = page.next_key_marker;
            version_marker = page.next_version_id_marker;
        }
    }

    async fn fetch_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<PolicyObject, Error> {
        self.get(bucket, key, Some(version_id)).await
    }
}
