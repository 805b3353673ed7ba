//! Fuzz targets for the configuration parser. Ordinary tests on stable
//! (proptest), a few hundred cases each. Properties: parsing and resolving
//! never panic, the same text gives the same answer, and an error never
//! repeats a value typed into any field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use webhook::config::SourcesConfig;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn env(name: &str) -> Option<String> {
    (name == "SECRET").then(|| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())
}

/// Parses and resolves; the answer as text, the same on a second run.
fn answer(text: &str) -> Result<usize, String> {
    let run = || {
        SourcesConfig::from_toml(text)
            .and_then(|c| c.resolve_with(env))
            .map(|sources| sources.len())
            .map_err(|e| format!("{e} / {e:?}"))
    };
    let first = run();
    assert_eq!(first, run(), "not deterministic");
    first
}

const FIELDS: [&str; 13] = [
    "provider",
    "secrets",
    "queue",
    "tolerance",
    "event_types",
    "signature_header",
    "encoding",
    "prefix",
    "timestamp_header",
    "id_header",
    "signed_content",
    "event_id",
    "event_type",
];

/// A TOML value around `token`, in the shapes a user might write.
fn shaped(token: &str, shape: usize) -> String {
    match shape % 9 {
        0 => format!("\"{token}\""),
        1 => format!("[\"{token}\"]"),
        2 => format!("{{ env = \"{token}\" }}"),
        3 => format!("[{{ file = \"/run/{token}\" }}]"),
        4 => format!("{{ header = \"{token}\" }}"),
        5 => format!("{{ json = \"{token}\" }}"),
        6 => format!("{{ {token} = \"x\" }}"),
        7 => format!("\"{{{token}}}.{{body}}\""),
        _ => token.to_owned(),
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n\t]{0,400}") {
        let _ = answer(&text);
    }

    #[test]
    fn arbitrary_sources_never_panic(
        provider in prop_oneof![
            proptest::sample::select(vec!["hmac", "github", "stripe", "slack", "svix", "shopify"]).prop_map(String::from),
            "[a-z]{0,8}",
        ],
        lines in proptest::collection::vec((0usize..13, "[ -~]{0,30}"), 0..8),
    ) {
        let mut text = format!("[sources.s]\nprovider = \"{provider}\"\nsecrets = [{{ env = \"SECRET\" }}]\n");
        let mut seen = Vec::new();
        for (field, value) in lines {
            if seen.contains(&field) || field < 2 {
                continue;
            }
            seen.push(field);
            text.push_str(&format!("{} = {}\n", FIELDS[field], value));
        }
        let _ = answer(&text);
    }

    #[test]
    fn a_value_typed_anywhere_is_never_repeated_in_an_error(
        token in "[A-Za-z][A-Za-z0-9_]{15,30}",
        field in 0usize..13,
        shape in 0usize..9,
        hmac in any::<bool>(),
    ) {
        let provider = if hmac { "hmac" } else { "github" };
        let mut text = String::from("[sources.s]\n");
        if field != 0 {
            text.push_str(&format!("provider = \"{provider}\"\n"));
        }
        if field != 1 {
            text.push_str("secrets = [{ env = \"SECRET\" }]\n");
        }
        if hmac && field != 5 {
            text.push_str("signature_header = \"X-Sig\"\n");
        }
        if hmac && field != 12 {
            text.push_str("event_type = { json = \"/type\" }\n");
        }
        text.push_str(&format!("{} = {}\n", FIELDS[field], shaped(&token, shape)));
        if let Err(error) = answer(&text) {
            prop_assert!(!error.contains(&token), "{}\n---\n{}", text, error);
        }
        // The token as a key of its own.
        let keyed = format!("[sources.s]\nprovider = \"github\"\nsecrets = [{{ env = \"SECRET\" }}]\n{token} = 1\n");
        let error = answer(&keyed).unwrap_err();
        prop_assert!(!error.contains(&token), "{}", error);
    }
}
