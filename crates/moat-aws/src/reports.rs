//! The reports bucket: what sweeps write (their inventory, the Distributed
//! Map's results, the results as JSON Lines, the summary) and the daily
//! compliance reports, by key. The layout is `moat_domain::report`'s.

use std::future::Future;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::Error;
use crate::config::Aws;

/// Objects in the reports bucket.
pub trait ReportStore {
    /// Writes `body` at `key`, replacing what was there.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The object at `key` as text, or `None` when there is none.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// The bucket's name, for the state machine's S3 readers and writers.
    fn bucket(&self) -> &str;
}

/// [`ReportStore`] on S3.
#[derive(Debug, Clone)]
pub struct S3Reports {
    client: Client,
    bucket: String,
}

impl S3Reports {
    pub fn new(aws: &Aws, bucket: impl Into<String>) -> S3Reports {
        S3Reports {
            client: Client::new(aws.sdk_config()),
            bucket: bucket.into(),
        }
    }
}

impl ReportStore for S3Reports {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|error| Error::from_sdk("PutObject", error))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(error) => {
                let error = Error::from_sdk("GetObject", error);
                return if error.is_not_found() {
                    Ok(None)
                } else {
                    Err(error)
                };
            }
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|error| Error::Transport {
                operation: "GetObject",
                message: error.to_string(),
            })?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| Error::Corrupt {
                what: "report object",
                key: format!("s3://{}/{key}", self.bucket),
                message: "not UTF-8 text".into(),
            })
    }

    fn bucket(&self) -> &str {
        &self.bucket
    }
}
