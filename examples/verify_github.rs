//! Verifies a GitHub delivery the way the ingest will: signature on the raw
//! bytes first, then the event id and type, then the envelope that goes into
//! Redis.
//!
//! `cargo run --example verify_github`

use webhook::http::{HeaderMap, HeaderValue};
use webhook::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // GitHub's documented example request.
    let secret = Secret::from("It's a Secret to Everybody");
    let body = b"Hello, World!";
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_static(
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ),
    );
    headers.insert(
        "x-github-delivery",
        HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    );
    headers.insert("x-github-event", HeaderValue::from_static("ping"));

    let verifier = Verifier::new(Provider::GitHub.scheme().ok_or("built-in")?, &[secret])?;
    let verified = verifier.verify(&headers, body)?;
    let meta = verified.event_meta()?;
    let envelope = Envelope::new(
        meta.id.unwrap_or_else(Envelope::generate_id),
        meta.event_type,
        "github",
        body.to_vec(),
    )
    .with_headers(verifier.retained_headers(&headers));
    eprintln!("verified: {envelope:?}");

    // One changed byte and the same headers no longer verify.
    let refused = verifier
        .verify(&headers, b"Hello, World?")
        .err()
        .ok_or("tampered body passed")?;
    eprintln!("tampered: refused ({refused}); the ingest answers 401");
    Ok(())
}
