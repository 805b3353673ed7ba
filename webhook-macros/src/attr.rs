//! Parsing and validating the attribute's arguments:
//! `("pattern", retries = 5, backoff = "1s..10m", timeout = "30s", name = "...", queue = "...", crate = "...")`.

use std::time::Duration;

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, LitStr, Token};

use crate::pattern;

const OPTIONS: &str = "`retries`, `backoff`, `timeout`, `name`, `queue`, `crate`";

/// The validated arguments.
pub(crate) struct Args {
    pub(crate) pattern: LitStr,
    pub(crate) retries: Option<u32>,
    pub(crate) backoff: Option<(Duration, Duration)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) name: Option<LitStr>,
    pub(crate) queue: Option<LitStr>,
    pub(crate) krate: Option<syn::Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing the event pattern: write `#[webhook_handler(\"payment_intent.succeeded\")]`, a prefix like `\"customer.*\"`, or `\"*\"`",
            ));
        }
        let pattern: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "the first argument is the event pattern, a string: `#[webhook_handler(\"payment_intent.succeeded\")]`",
            )
        })?;
        if let Err(message) = pattern::check(&pattern.value()) {
            return Err(syn::Error::new(pattern.span(), message));
        }
        let mut args = Args {
            pattern,
            retries: None,
            backoff: None,
            timeout: None,
            name: None,
            queue: None,
            krate: None,
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key = Ident::parse_any(input)?;
            input.parse::<Token![=]>().map_err(|e| {
                syn::Error::new(e.span(), format!("expected `=` and a value after `{key}`"))
            })?;
            args.set(&key, input)?;
        }
        Ok(args)
    }
}

impl Args {
    fn set(&mut self, key: &Ident, input: ParseStream<'_>) -> syn::Result<()> {
        let twice = || syn::Error::new(key.span(), format!("`{key}` is given twice"));
        match key.to_string().as_str() {
            "retries" => {
                let lit: LitInt = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`retries` takes a whole number, e.g. `retries = 5`",
                    )
                })?;
                let retries = lit.base10_parse::<u32>().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        "`retries` takes a whole number from 0 to 4294967295",
                    )
                })?;
                if self.retries.replace(retries).is_some() {
                    return Err(twice());
                }
            }
            "backoff" => {
                let lit: LitStr = input.parse().map_err(|e| {
                    syn::Error::new(e.span(), "`backoff` takes a string `\"<first delay>..<longest delay>\"`, e.g. `backoff = \"2s..10m\"`")
                })?;
                let value = lit.value();
                let Some((base, cap)) = value.split_once("..") else {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`backoff` is `\"<first delay>..<longest delay>\"`, e.g. `backoff = \"2s..10m\"`",
                    ));
                };
                let base = duration(&lit, base.trim())?;
                let cap = duration(&lit, cap.trim())?;
                if base.is_zero() || base > cap {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`backoff` needs a first delay above zero and no longer than the longest delay, e.g. `\"2s..10m\"`",
                    ));
                }
                if self.backoff.replace((base, cap)).is_some() {
                    return Err(twice());
                }
            }
            "timeout" => {
                let lit: LitStr = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`timeout` takes a duration string, e.g. `timeout = \"30s\"`",
                    )
                })?;
                let timeout = duration(&lit, &lit.value())?;
                if timeout.is_zero() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`timeout` must be longer than zero",
                    ));
                }
                if self.timeout.replace(timeout).is_some() {
                    return Err(twice());
                }
            }
            "name" => {
                let lit = string(key, input)?;
                let value = lit.value();
                // The same rule as the registry's: names are part of Redis
                // keys and of idempotency keys, where `/` is the separator.
                let allowed = |b: u8| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'#' | b'-')
                };
                if value.is_empty() || value.len() > 200 || !value.bytes().all(allowed) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "a handler name is 1 to 200 letters, digits, `_`, `.`, `:`, `#` or `-`; it is part of the handler's idempotency key",
                    ));
                }
                if self.name.replace(lit).is_some() {
                    return Err(twice());
                }
            }
            "queue" => {
                let lit = string(key, input)?;
                let value = lit.value();
                if value.is_empty()
                    || value.len() > 64
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(syn::Error::new(
                        lit.span(),
                        "a queue name is 1 to 64 letters, digits, `-` or `_`",
                    ));
                }
                if self.queue.replace(lit).is_some() {
                    return Err(twice());
                }
            }
            "crate" => {
                let lit = string(key, input)?;
                let path = lit.parse::<syn::Path>().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        "`crate` takes a path, e.g. `crate = \"::webhook\"`",
                    )
                })?;
                if self.krate.replace(path).is_some() {
                    return Err(twice());
                }
            }
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown option `{key}`; the options are {OPTIONS}"),
                ));
            }
        }
        Ok(())
    }
}

fn string(key: &Ident, input: ParseStream<'_>) -> syn::Result<LitStr> {
    input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format!("`{key}` takes a string")))
}

fn duration(lit: &LitStr, text: &str) -> syn::Result<Duration> {
    humantime::parse_duration(text).map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "`{text}` is not a duration; write it like \"500ms\", \"30s\", \"5m\" or \"1h\""
            ),
        )
    })
}
