//! The content store: reading and writing blobs (manifests, configs,
//! checkpoint indexes).

use sha2::{Digest, Sha256};

use crate::api::services::content::v1::ReadContentRequest;
use crate::api::types::Descriptor;
use crate::core::client::Client;
use crate::core::error::{Code, Error, Result};

/// Largest manifest, index or config we read.
const MAX_BLOB: i64 = 4 << 20;

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Client {
    /// Reads a blob from the content store.
    pub async fn read_blob(&self, what: &str, digest: &str, size: i64) -> Result<Vec<u8>> {
        if size > MAX_BLOB {
            return Err(Error::invalid(format!(
                "{what} {digest} has {size} bytes, more than the {MAX_BLOB} this library reads"
            )));
        }
        let req = ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: 0,
        };
        let mut content = self.content();
        let call = async {
            let mut stream = content.read(self.request(req)).await?.into_inner();
            let mut data = Vec::new();
            while let Some(chunk) = stream.message().await? {
                data.extend_from_slice(&chunk.data);
            }
            Ok::<_, tonic::Status>(tonic::Response::new(data))
        };
        self.call(format!("read {what} {digest}"), call).await
    }

    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        d: &Descriptor,
    ) -> Result<T> {
        let bytes = self.read_blob(what, &d.digest, d.size).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                Code::Unknown,
                format!("{what} {} is not valid: {e}", d.digest),
            )
        })
    }

    /// Writes `data` to the content store under the lease `lease`, with
    /// `labels`; content already there is fine. Returns its digest.
    pub async fn write_blob(
        &self,
        lease: &str,
        data: Vec<u8>,
        labels: std::collections::HashMap<String, String>,
    ) -> Result<String> {
        use crate::api::services::content::v1::{WriteAction, WriteContentRequest};
        let digest = format!("sha256:{}", hex(&Sha256::digest(&data)));
        let total = data.len() as i64;
        let reference = format!("containerd-c-{}", &digest[7..]);
        let messages = vec![
            WriteContentRequest {
                action: WriteAction::Write as i32,
                r#ref: reference.clone(),
                total,
                offset: 0,
                data,
                ..Default::default()
            },
            WriteContentRequest {
                action: WriteAction::Commit as i32,
                r#ref: reference,
                total,
                expected: digest.clone(),
                offset: total,
                labels,
                ..Default::default()
            },
        ];
        let req = self.request_with_lease(tokio_stream::iter(messages), lease)?;
        let mut content = self.content();
        let call = async {
            let mut answers = content.write(req).await?.into_inner();
            while answers.message().await?.is_some() {}
            Ok(tonic::Response::new(()))
        };
        match self.call(format!("write content {digest}"), call).await {
            Err(e) if e.code != Code::AlreadyExists => Err(e),
            _ => Ok(digest),
        }
    }
}
