//! Generating the registration.

use std::time::Duration;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{ItemFn, Type};

use crate::attr::Args;

/// The function, unchanged, followed by its registration.
pub(crate) fn expand(args: &Args, item: &ItemFn, params: &[Type]) -> TokenStream {
    let krate = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::webhook), |path| quote!(#path));
    let private = quote!(#krate::__private);
    let function = &item.sig.ident;
    let pattern = &args.pattern;
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => quote!(::core::concat!(
            ::core::module_path!(),
            "::",
            ::core::stringify!(#function)
        )),
    };
    let queue = match &args.queue {
        Some(queue) => quote!(#queue),
        None => quote!("default"),
    };
    let defaults = quote!(#private::HandlerOptions::DEFAULT);
    let retries = match args.retries {
        Some(retries) => quote!(#retries),
        None => quote!(#defaults.retries),
    };
    let backoff = match args.backoff {
        Some((base, cap)) => {
            let (base, cap) = (duration(&private, base), duration(&private, cap));
            quote!(#private::Backoff::new(#base, #cap))
        }
        None => quote!(#defaults.backoff),
    };
    let timeout = match args.timeout {
        Some(timeout) => duration(&private, timeout),
        None => quote!(#defaults.timeout),
    };

    // Names the expansion introduces carry a mixed-site span, so they resolve
    // even when the handler itself is written by a user's `macro_rules!`.
    let hidden = |name: &str| Ident::new(name, Span::mixed_site());
    let context = hidden("__context");
    let output_span = match &item.sig.output {
        syn::ReturnType::Default => item.sig.ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    };
    // Resolved like the other hidden names, but located at the return type,
    // so a wrong return type is reported there.
    let result = Ident::new("__result", Span::mixed_site().located_at(output_span));
    let bindings: Vec<_> = (0..params.len())
        .map(|i| hidden(&format!("__arg{i}")))
        .collect();
    // Spanned at each parameter's type, so a type that is not a handler
    // parameter is reported there, in the words of `FromContext`.
    let extract = params.iter().zip(&bindings).map(|(ty, binding)| {
        quote_spanned! {ty.span()=>
            let #binding = match <#ty as #private::FromContext>::from_context(&#context) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(error) => return ::core::result::Result::Err(error),
            };
        }
    });
    let requires = params.iter().map(|ty| {
        quote_spanned! {ty.span()=> <#ty as #private::FromContext>::REQUIRES }
    });
    // Spanned at the return type, so a wrong one is reported there.
    let convert = quote_spanned! {output_span=>
        #private::IntoHandlerResult::into_handler_result(#result)
    };

    quote! {
        #item

        const _: () = {
            fn __webhook_entry(
                #context: #private::HandlerContext,
            ) -> #private::BoxFuture<'static, ::core::result::Result<(), #private::HandlerError>> {
                #private::Box::pin(async move {
                    #(#extract)*
                    let #result = #function(#(#bindings),*).await;
                    #convert
                })
            }

            #private::inventory::submit! {
                #private::Registration::new(
                    #pattern,
                    #name,
                    #queue,
                    #private::HandlerOptions::new(#retries, #backoff, #timeout),
                    &[#(#requires),*],
                    __webhook_entry,
                    ::core::concat!(::core::file!(), ":", ::core::line!()),
                )
            }
        };
    }
}

fn duration(private: &TokenStream, duration: Duration) -> TokenStream {
    let (secs, nanos) = (duration.as_secs(), duration.subsec_nanos());
    quote!(#private::Duration::new(#secs, #nanos))
}
