//! Verification cost per provider, for 1 KiB and 64 KiB bodies.
//!
//! `cargo bench -p webhook-core --bench verify`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::Signer as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use webhook_core::Secret;
use webhook_core::signature::{Provider, Verifier};

const TS: u64 = 1_700_000_000;

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn headers(pairs: Vec<(&'static str, String)>) -> HeaderMap {
    pairs
        .into_iter()
        .map(|(k, v)| {
            (
                HeaderName::from_static(k),
                HeaderValue::try_from(v).unwrap(),
            )
        })
        .collect()
}

/// A verifier and a request it accepts, for each provider.
fn cases(body: &[u8]) -> Vec<(&'static str, Verifier, HeaderMap)> {
    let ts = TS.to_string();
    let t = ts.as_bytes();
    let raw = b"0123456789abcdef0123456789abcdef";
    let sw_secret = format!("whsec_{}", STANDARD.encode(raw));
    let seed = [7u8; 32];
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = format!(
        "whpk_{}",
        STANDARD.encode(signing.verifying_key().to_bytes())
    );
    let sw_message = [b"msg_1.".as_slice(), t, b".", body].concat();
    let verifier = |provider: Provider, secret: &str| {
        Verifier::new(provider.scheme().unwrap(), &[Secret::from(secret)]).unwrap()
    };
    vec![
        (
            "stripe",
            verifier(Provider::Stripe, "whsec_bench"),
            headers(vec![(
                "stripe-signature",
                format!(
                    "t={ts},v1={}",
                    hex::encode(mac(b"whsec_bench", &[t, b".", body]))
                ),
            )]),
        ),
        (
            "github",
            verifier(Provider::GitHub, "bench"),
            headers(vec![(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(mac(b"bench", &[body]))),
            )]),
        ),
        (
            "slack",
            verifier(Provider::Slack, "bench"),
            headers(vec![
                ("x-slack-request-timestamp", ts.clone()),
                (
                    "x-slack-signature",
                    format!(
                        "v0={}",
                        hex::encode(mac(b"bench", &[b"v0:", t, b":", body]))
                    ),
                ),
            ]),
        ),
        (
            "shopify",
            verifier(Provider::Shopify, "bench"),
            headers(vec![(
                "x-shopify-hmac-sha256",
                STANDARD.encode(mac(b"bench", &[body])),
            )]),
        ),
        (
            "standard-webhooks-v1",
            verifier(Provider::StandardWebhooks, &sw_secret),
            headers(vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.clone()),
                (
                    "webhook-signature",
                    format!("v1,{}", STANDARD.encode(mac(raw, &[&sw_message]))),
                ),
            ]),
        ),
        (
            "standard-webhooks-v1a",
            verifier(Provider::StandardWebhooks, &public),
            headers(vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.clone()),
                (
                    "webhook-signature",
                    format!(
                        "v1a,{}",
                        STANDARD.encode(signing.sign(&sw_message).to_bytes())
                    ),
                ),
            ]),
        ),
    ]
}

fn verify(c: &mut Criterion) {
    let now = UNIX_EPOCH + Duration::from_secs(TS);
    let mut group = c.benchmark_group("verify");
    for size in [1024usize, 64 * 1024] {
        let body: Vec<u8> = (0..size)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz{}\":,"[i % 31])
            .collect();
        group.throughput(Throughput::Bytes(size as u64));
        for (name, verifier, headers) in cases(&body) {
            verifier
                .verify_at(&headers, &body, now)
                .expect("the bench request verifies");
            let label = if size == 1024 { "1KiB" } else { "64KiB" };
            group.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| {
                    black_box(
                        verifier
                            .verify_at(black_box(&headers), black_box(&body), now)
                            .is_ok(),
                    )
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    targets = verify
}
criterion_main!(benches);
