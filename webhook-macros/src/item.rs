//! Validating the annotated function.

use syn::spanned::Spanned as _;
use syn::{FnArg, ItemFn, Type};

/// The parameter types of a valid handler, or every error found.
pub(crate) fn check(item: &ItemFn) -> syn::Result<Vec<Type>> {
    let sig = &item.sig;
    let mut errors: Vec<syn::Error> = Vec::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "a webhook handler must be an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a webhook handler cannot be generic: the registry needs one concrete function; write a non-generic handler that calls your generic code",
        ));
    }
    let mut types = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "a webhook handler is a free function and cannot take `self`; move it out of the `impl` block",
            )),
            FnArg::Typed(typed) => types.push((*typed.ty).clone()),
        }
    }
    if !types.iter().any(is_event) && !sig.inputs.iter().any(|i| matches!(i, FnArg::Receiver(_))) {
        errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            "a webhook handler takes the event as a parameter, e.g. `event: Event<PaymentIntent>` or `event: Event<serde_json::Value>`",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new(
            variadic.span(),
            "a webhook handler cannot be variadic",
        ));
    }
    match errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    }) {
        Some(error) => Err(error),
        None => Ok(types),
    }
}

/// Whether a parameter type is written as `Event<...>` (any path ending so).
fn is_event(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Event"),
        Type::Paren(inner) => is_event(&inner.elem),
        Type::Group(inner) => is_event(&inner.elem),
        _ => false,
    }
}
