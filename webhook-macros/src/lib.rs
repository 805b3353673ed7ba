//! The `#[webhook_handler]` attribute macro of the webhook framework.
//!
//! Use it through the `webhook` crate: `use webhook::prelude::*;`.
//!
//! ```ignore
//! use webhook::prelude::*;
//!
//! #[webhook_handler("payment_intent.succeeded", retries = 5, timeout = "30s")]
//! async fn fulfil_order(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
//!     Ok(())
//! }
//! ```
//!
//! The `webhook` crate documents the options; this crate only parses
//! (`attr.rs`), validates (`item.rs`, `pattern.rs`) and expands
//! (`expand.rs`).

mod attr;
mod expand;
mod item;
mod pattern;

use proc_macro::TokenStream;

/// Registers an `async fn` as the handler of an event pattern.
///
/// See the `webhook` crate's documentation of `webhook_handler` for the
/// options and an example.
#[proc_macro_attribute]
pub fn webhook_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[webhook_handler] goes on an `async fn`",
            );
            return with_error(item, error);
        }
    };
    let args = syn::parse::<attr::Args>(attr);
    let params = item::check(&function);
    match (args, params) {
        (Ok(args), Ok(params)) => expand::expand(&args, &function, &params).into(),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            with_error(item, a)
        }
        (Err(error), _) | (_, Err(error)) => with_error(item, error),
    }
}

/// The user's item as written, followed by the errors: the function keeps
/// existing, so the IDE and the rest of the crate keep working.
fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(TokenStream::from(error.to_compile_error()));
    out
}
