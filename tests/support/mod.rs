//! Shared helpers of the integration tests: independent signers for every
//! provider, written from the providers' docs with `hmac`, `sha2`, `base64`
//! and `ed25519-dalek` directly (not through the crate under test).

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod child;
pub mod logs;
pub mod proxy;
pub mod redis_cluster;
pub mod redis_server;
pub mod running;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use webhook::Secret;
use webhook::extract::Field;
use webhook::signature::{Encoding, GenericHmac, Provider, Scheme, Verifier};

/// The fixed "now" of the tests, as Unix seconds.
pub const NOW: u64 = 1_700_000_000;

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::try_from(*k).unwrap(),
                HeaderValue::try_from(*v).unwrap(),
            )
        })
        .collect()
}

/// A signing key as the sender holds it.
#[derive(Clone)]
pub enum SigningKey {
    Hmac(Vec<u8>),
    Ed25519(ed25519_dalek::SigningKey),
}

/// One way of sending signed webhooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    Stripe,
    GitHub,
    Slack,
    Shopify,
    /// Standard Webhooks `v1` under the `webhook-*` headers.
    StandardV1,
    /// Standard Webhooks `v1a` (Ed25519) under the `webhook-*` headers.
    StandardV1a,
    /// Standard Webhooks `v1` under the `svix-*` headers.
    SvixV1,
    /// Generic HMAC: `X-Signature: sha256=<hex>` over `{id}.{timestamp}.{body}`,
    /// the id from `X-Delivery`.
    GenericTimestamped,
    /// Generic HMAC: `X-Signature: <base64>` over the body alone.
    GenericBase64,
}

pub const ALL: [Case; 9] = [
    Case::Stripe,
    Case::GitHub,
    Case::Slack,
    Case::Shopify,
    Case::StandardV1,
    Case::StandardV1a,
    Case::SvixV1,
    Case::GenericTimestamped,
    Case::GenericBase64,
];

impl Case {
    pub fn scheme(self) -> Scheme {
        match self {
            Case::Stripe => Provider::Stripe.scheme(),
            Case::GitHub => Provider::GitHub.scheme(),
            Case::Slack => Provider::Slack.scheme(),
            Case::Shopify => Provider::Shopify.scheme(),
            Case::StandardV1 | Case::StandardV1a | Case::SvixV1 => {
                Provider::StandardWebhooks.scheme()
            }
            Case::GenericTimestamped => Some(
                GenericHmac {
                    signature_header: HeaderName::from_static("x-signature"),
                    encoding: Encoding::Hex,
                    prefix: "sha256=".into(),
                    timestamp_header: Some(HeaderName::from_static("x-timestamp")),
                    id_header: None,
                    signed_content: "{id}.{timestamp}.{body}".into(),
                    tolerance: None,
                    event_id: Field::Header(HeaderName::from_static("x-delivery")),
                    event_type: Field::Json("/type".into()),
                }
                .scheme()
                .unwrap(),
            ),
            Case::GenericBase64 => Some(
                GenericHmac {
                    signature_header: HeaderName::from_static("x-signature"),
                    encoding: Encoding::Base64,
                    prefix: String::new(),
                    timestamp_header: None,
                    id_header: None,
                    signed_content: "{body}".into(),
                    tolerance: None,
                    event_id: Field::Absent,
                    event_type: Field::Header(HeaderName::from_static("x-event")),
                }
                .scheme()
                .unwrap(),
            ),
        }
        .unwrap()
    }

    /// Whether the scheme signs a timestamp that is checked against the window.
    pub fn timestamped(self) -> bool {
        !matches!(self, Case::GitHub | Case::Shopify | Case::GenericBase64)
    }

    /// The header carrying the signature.
    pub fn signature_header(self) -> &'static str {
        match self {
            Case::Stripe => "stripe-signature",
            Case::GitHub => "x-hub-signature-256",
            Case::Slack => "x-slack-signature",
            Case::Shopify => "x-shopify-hmac-sha256",
            Case::StandardV1 | Case::StandardV1a => "webhook-signature",
            Case::SvixV1 => "svix-signature",
            Case::GenericTimestamped | Case::GenericBase64 => "x-signature",
        }
    }

    /// The header carrying the timestamp, where it has its own.
    pub fn timestamp_header(self) -> Option<&'static str> {
        match self {
            Case::Slack => Some("x-slack-request-timestamp"),
            Case::StandardV1 | Case::StandardV1a => Some("webhook-timestamp"),
            Case::SvixV1 => Some("svix-timestamp"),
            Case::GenericTimestamped => Some("x-timestamp"),
            _ => None,
        }
    }

    /// A signature value that cannot be read.
    pub fn malformed_signature(self) -> &'static str {
        match self {
            Case::Stripe => "v1=abc",
            Case::GitHub => "sha1=0123",
            Case::Slack => "v0=nothex",
            Case::Shopify => "not base64!",
            Case::StandardV1 | Case::SvixV1 => "v1,not-base64!",
            Case::StandardV1a => "v1a,AAAA",
            Case::GenericTimestamped => "sha256=zz",
            Case::GenericBase64 => "%%%",
        }
    }

    /// The `n`th key pair: what the sender signs with, and what the source is
    /// configured with.
    pub fn key(self, n: u8) -> (SigningKey, Secret) {
        let raw: Vec<u8> = (0..24u8)
            .map(|i| i.wrapping_mul(31).wrapping_add(n))
            .collect();
        match self {
            Case::Stripe => {
                let secret = format!("whsec_{}", hex::encode(&raw));
                (
                    SigningKey::Hmac(secret.clone().into_bytes()),
                    Secret::from(secret),
                )
            }
            Case::StandardV1 | Case::SvixV1 => (
                SigningKey::Hmac(raw.clone()),
                Secret::from(format!("whsec_{}", STANDARD.encode(&raw))),
            ),
            Case::StandardV1a => {
                let seed: [u8; 32] = std::array::from_fn(|i| raw[i % raw.len()] ^ i as u8);
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                let public = STANDARD.encode(key.verifying_key().to_bytes());
                (
                    SigningKey::Ed25519(key),
                    Secret::from(format!("whpk_{public}")),
                )
            }
            _ => {
                let secret = hex::encode(&raw);
                (
                    SigningKey::Hmac(secret.clone().into_bytes()),
                    Secret::from(secret),
                )
            }
        }
    }

    pub fn verifier(self, secrets: &[Secret]) -> Verifier {
        Verifier::new(self.scheme(), secrets).unwrap()
    }

    /// A JSON body carrying what every provider needs for id and type.
    pub fn body(self) -> Vec<u8> {
        br#"{"id":"evt_1","event_id":"Ev1","type":"thing.happened","action":"done","n":1}"#.to_vec()
    }

    /// The headers a sender of this case sends for `body` at time `ts`.
    pub fn sign(self, key: &SigningKey, body: &[u8], ts: u64) -> HeaderMap {
        let ts_text = ts.to_string();
        let ts_bytes = ts_text.as_bytes();
        let hmac_key = || match key {
            SigningKey::Hmac(k) => k.clone(),
            SigningKey::Ed25519(_) => panic!("HMAC case given an Ed25519 key"),
        };
        let id = "msg_1";
        let sig: String = match self {
            Case::Stripe => format!(
                "t={ts},v1={}",
                hex::encode(hmac_sha256(&hmac_key(), &[ts_bytes, b".", body]))
            ),
            Case::GitHub => format!("sha256={}", hex::encode(hmac_sha256(&hmac_key(), &[body]))),
            Case::Slack => format!(
                "v0={}",
                hex::encode(hmac_sha256(&hmac_key(), &[b"v0:", ts_bytes, b":", body]))
            ),
            Case::Shopify | Case::GenericBase64 => {
                STANDARD.encode(hmac_sha256(&hmac_key(), &[body]))
            }
            Case::StandardV1 | Case::SvixV1 => format!(
                "v1,{}",
                STANDARD.encode(hmac_sha256(
                    &hmac_key(),
                    &[id.as_bytes(), b".", ts_bytes, b".", body]
                ))
            ),
            Case::StandardV1a => {
                let SigningKey::Ed25519(signing) = key else {
                    panic!("v1a needs an Ed25519 key")
                };
                let message = [id.as_bytes(), b".", ts_bytes, b".", body].concat();
                format!("v1a,{}", STANDARD.encode(signing.sign(&message).to_bytes()))
            }
            Case::GenericTimestamped => format!(
                "sha256={}",
                hex::encode(hmac_sha256(&hmac_key(), &[b"g-1.", ts_bytes, b".", body]))
            ),
        };
        let mut pairs: Vec<(&str, String)> = vec![(self.signature_header(), sig)];
        if let Some(name) = self.timestamp_header() {
            pairs.push((name, ts_text.clone()));
        }
        match self {
            Case::GitHub => {
                pairs.push(("x-github-delivery", "d-1".into()));
                pairs.push(("x-github-event", "thing".into()));
            }
            Case::Shopify => {
                pairs.push(("x-shopify-webhook-id", "w-1".into()));
                pairs.push(("x-shopify-topic", "orders/create".into()));
            }
            Case::StandardV1 | Case::StandardV1a => pairs.push(("webhook-id", id.into())),
            Case::SvixV1 => pairs.push(("svix-id", id.into())),
            Case::GenericTimestamped => pairs.push(("x-delivery", "g-1".into())),
            Case::GenericBase64 => pairs.push(("x-event", "thing.happened".into())),
            _ => {}
        }
        pairs
            .into_iter()
            .map(|(k, v)| {
                (
                    HeaderName::try_from(k).unwrap(),
                    HeaderValue::try_from(v).unwrap(),
                )
            })
            .collect()
    }

    /// The event id and type a valid request of this case carries.
    pub fn expected_meta(self) -> (Option<&'static str>, &'static str) {
        match self {
            Case::Stripe => (Some("evt_1"), "thing.happened"),
            Case::GitHub => (Some("d-1"), "thing.done"),
            Case::Slack => (Some("Ev1"), "thing.happened"),
            Case::Shopify => (Some("w-1"), "orders/create"),
            Case::StandardV1 | Case::StandardV1a | Case::SvixV1 => {
                (Some("msg_1"), "thing.happened")
            }
            Case::GenericTimestamped => (Some("g-1"), "thing.happened"),
            Case::GenericBase64 => (None, "thing.happened"),
        }
    }
}

/// The envelopes in stream `key`, read on `connection`, in stream order.
pub fn envelopes(connection: &mut dyn redis::ConnectionLike, key: &str) -> Vec<webhook::Envelope> {
    let raw: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(connection)
        .expect("XRANGE");
    raw.into_iter()
        .map(|(_, flat)| {
            let pairs = flat.chunks(2).map(|kv| (kv[0].clone(), kv[1].clone()));
            webhook::Envelope::decode(pairs).expect("a stored envelope")
        })
        .collect()
}
