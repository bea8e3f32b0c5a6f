//! Amazon SNS message signatures: SignatureVersion 1 (SHA1withRSA) and 2
//! (SHA256withRSA) over the documented string to sign, with the signing
//! certificate fetched only from an `https://sns.<region>.amazonaws.com`
//! URL. The fetcher is a trait, so tests sign with their own key pair and
//! serve their own certificate; production fetches over HTTPS and keeps
//! each certificate's key.
//!
//! Never loosened for an emulator: moto's own deliveries leave `Subject`
//! out of the string to sign, and a correct verifier rejects them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// An SNS message as POSTed to an HTTP(S) subscription.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SnsMessage {
    #[serde(rename = "Type")]
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub message: String,
    pub timestamp: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    pub signature_version: String,
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnsError {
    #[error("the certificate URL is not an https://sns.<region>.amazonaws.com URL")]
    CertificateUrl,
    #[error("the SubscribeURL is not an https://sns.<region>.amazonaws.com URL")]
    SubscribeUrl,
    #[error("signature version {0:?} is not 1 or 2")]
    Version(String),
    #[error("the certificate could not be read: {0}")]
    Certificate(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("message type {0:?} is not signed this way")]
    Kind(String),
}

/// Only SNS's own hosts may serve certificates and subscription links.
pub fn is_sns_url(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') || authority.contains(':') {
        return false;
    }
    let host = authority.to_ascii_lowercase();
    let Some(region) = host.strip_prefix("sns.").and_then(|h| {
        h.strip_suffix(".amazonaws.com")
            .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
    }) else {
        return false;
    };
    !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The documented string to sign: each key and its value on lines of
/// their own, in this order, `Subject` only when present.
pub fn string_to_sign(m: &SnsMessage) -> Result<String, SnsError> {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| {
        out.push_str(k);
        out.push('\n');
        out.push_str(v);
        out.push('\n');
    };
    match m.kind.as_str() {
        "Notification" => {
            line("Message", &m.message);
            line("MessageId", &m.message_id);
            if let Some(s) = &m.subject {
                line("Subject", s);
            }
            line("Timestamp", &m.timestamp);
            line("TopicArn", &m.topic_arn);
            line("Type", &m.kind);
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            line("Message", &m.message);
            line("MessageId", &m.message_id);
            line(
                "SubscribeURL",
                m.subscribe_url.as_deref().unwrap_or_default(),
            );
            line("Timestamp", &m.timestamp);
            line("Token", m.token.as_deref().unwrap_or_default());
            line("TopicArn", &m.topic_arn);
            line("Type", &m.kind);
        }
        other => return Err(SnsError::Kind(other.to_string())),
    }
    Ok(out)
}

pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// Fetches a URL's body: the signing certificate (PEM), or a
/// subscription's `SubscribeURL` to confirm it.
pub trait Fetcher: Send + Sync {
    fn fetch<'a>(&'a self, url: &'a str) -> FetchFuture<'a>;
}

/// The production fetcher: HTTPS with rustls.
pub struct HttpsFetcher {
    http: reqwest::Client,
}

impl HttpsFetcher {
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(HttpsFetcher {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .https_only(true)
                .build()?,
        })
    }
}

impl Fetcher for HttpsFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            let r = self.http.get(url).send().await.map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("{url} answered {}", r.status()));
            }
            r.bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| e.to_string())
        })
    }
}

/// Verifies messages, keeping each certificate's public key once fetched.
pub struct Verifier {
    fetcher: Arc<dyn Fetcher>,
    keys: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl Verifier {
    pub fn new(fetcher: Arc<dyn Fetcher>) -> Self {
        Verifier {
            fetcher,
            keys: Mutex::new(HashMap::new()),
        }
    }

    pub fn fetcher(&self) -> &Arc<dyn Fetcher> {
        &self.fetcher
    }

    /// The RSA public key (PKCS#1 DER) of the certificate at `url`.
    async fn key(&self, url: &str) -> Result<Arc<Vec<u8>>, SnsError> {
        if let Some(k) = self.keys.lock().expect("key cache").get(url) {
            return Ok(Arc::clone(k));
        }
        let pem = self
            .fetcher
            .fetch(url)
            .await
            .map_err(SnsError::Certificate)?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
            .map_err(|e| SnsError::Certificate(e.to_string()))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| SnsError::Certificate(e.to_string()))?;
        let key = Arc::new(cert.public_key().subject_public_key.data.to_vec());
        self.keys
            .lock()
            .expect("key cache")
            .insert(url.to_string(), Arc::clone(&key));
        Ok(key)
    }

    pub async fn verify(&self, m: &SnsMessage) -> Result<(), SnsError> {
        if !is_sns_url(&m.signing_cert_url) {
            return Err(SnsError::CertificateUrl);
        }
        if m.kind != "Notification" && !m.subscribe_url.as_deref().is_some_and(is_sns_url) {
            return Err(SnsError::SubscribeUrl);
        }
        let algorithm: &'static aws_lc_rs::signature::RsaParameters =
            match m.signature_version.as_str() {
                "1" => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                "2" => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                other => return Err(SnsError::Version(other.to_string())),
            };
        let signed = string_to_sign(m)?;
        let signature = STANDARD
            .decode(m.signature.trim())
            .map_err(|_| SnsError::Signature)?;
        let key = self.key(&m.signing_cert_url).await?;
        aws_lc_rs::signature::UnparsedPublicKey::new(algorithm, key.as_slice())
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| SnsError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sns_hosts_serve_certificates() {
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
            "https://SNS.eu-west-2.amazonaws.com/x.pem",
        ] {
            assert!(is_sns_url(ok), "{ok}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.org/x.pem",
            "https://evil.org/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.amazonaws.com/x.pem",
            "https://sns.us_east-1.amazonaws.com/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://s3.amazonaws.com/x.pem",
        ] {
            assert!(!is_sns_url(bad), "{bad}");
        }
    }
}
