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
/// ```ignore
/// #[webhook_handler("payment_intent.succeeded", retries = 5, backoff = "2s..10m", timeout = "30s")]
/// async fn fulfil_order(event: Event<StripeEvent<PaymentIntent>>, db: State<PgPool>) -> Result<(), HandlerError> {
///     Ok(())
/// }
/// ```
///
/// The first argument is the event pattern: an exact type
/// (`"payment_intent.succeeded"`), a prefix (`"customer.*"`: every type
/// starting with `customer.`), or `"*"`. Every handler whose pattern
/// matches runs for an event, each on its own.
///
/// | option | meaning | default |
/// |---|---|---|
/// | `retries = 5` | retries after the first failed run; then the event is dead-lettered | `8` |
/// | `backoff = "2s..10m"` | first retry delay `..` longest delay; doubles each retry, with jitter | `"1s..10m"` |
/// | `timeout = "30s"` | longest run; a run past it is dropped and counts as a retryable failure | `"30s"` |
/// | `name = "fulfil-order"` | the stable name | `module::path::fn_name` |
/// | `queue = "payments"` | the queue whose workers run it | `"default"` |
/// | `crate = "::webhook"` | the path of the `webhook` crate, if renamed | `::webhook` |
///
/// The name is part of the handler's idempotency key: renaming a handler
/// (or moving it to another module without a `name`) makes it run again
/// for events it already handled. Give handlers that must never repeat a
/// fixed `name`.
///
/// The parameters may come in any order: `Event<T>` (required; `T` is any
/// `serde::de::DeserializeOwned` type, `serde_json::Value`, or `RawBody`),
/// `State<T>` for shared state, and `IdempotencyKey`. The function must
/// return `Result<(), E>` with `E: Into<HandlerError>`, and stays an
/// ordinary function that tests can call.
///
/// Every mistake is a compile error on the offending token: a function that
/// is not `async`, takes `self`, is generic or has no `Event` parameter; a
/// parameter type that is not one of the above; an unknown or repeated
/// option; a malformed duration, backoff, queue name or pattern.
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
