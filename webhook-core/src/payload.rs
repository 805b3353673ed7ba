//! Typed envelopes for providers whose payload wraps the object of interest.
//!
//! Use them as the `T` of `Event<T>`:
//! `Event<StripeEvent<PaymentIntent>>` gives `event.data.object`, a
//! `PaymentIntent`. GitHub and Shopify payloads are the object itself:
//! deserialize them into your own struct directly. Fields you do not name
//! are ignored, so a struct with only the fields you use is enough.
//!
//! Form-encoded deliveries need nothing else: `Event<T>` reads the JSON in
//! a form's `payload` field (GitHub hooks with `content_type: form`, Slack
//! interactivity), or the form's fields themselves ([`SlackSlashCommand`]).
//!
//! Writing one for another provider is a plain serde struct with a generic
//! field:
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct PaddleEvent<T> {
//!     event_id: String,
//!     event_type: String,
//!     data: T,
//! }
//! ```

use serde::Deserialize;

/// A Stripe event: `{"id", "type", "created", "livemode", "data": {"object": T}}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct StripeEvent<T> {
    /// The event id, `evt_...`.
    pub id: String,
    /// The event type, e.g. `payment_intent.succeeded`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix seconds when Stripe created the event.
    pub created: i64,
    /// Whether the event is from live mode.
    #[serde(default)]
    pub livemode: bool,
    /// The API version the payload is rendered in.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The object and, for `*.updated` events, the changed attributes.
    pub data: StripeData<T>,
}

/// The `data` of a Stripe event.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct StripeData<T> {
    /// The object the event is about.
    pub object: T,
    /// The previous values of changed attributes (`*.updated` events).
    #[serde(default)]
    pub previous_attributes: Option<serde_json::Value>,
}

impl<T> StripeEvent<T> {
    /// The object the event is about.
    pub fn object(&self) -> &T {
        &self.data.object
    }
}

/// A Slack Events API callback: `{"type": "event_callback", "event_id",
/// "team_id", "event": T}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct SlackEventCallback<T> {
    /// The event id, `Ev...`.
    pub event_id: String,
    /// Unix seconds when the event happened.
    #[serde(default)]
    pub event_time: Option<i64>,
    /// The workspace.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The app the event is for.
    #[serde(default)]
    pub api_app_id: Option<String>,
    /// The inner event (`{"type": "message", ...}`).
    pub event: T,
}

/// A Slack slash command: the form fields Slack posts
/// (`application/x-www-form-urlencoded`), read by `Event<SlackSlashCommand>`
/// without decoding anything. Its event type is `slash_command.<command>`
/// (`slash_command./deploy`) and its id the per-invocation `trigger_id`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct SlackSlashCommand {
    /// The command, with its slash: `/deploy`.
    pub command: String,
    /// What follows the command, as typed (may be empty).
    #[serde(default)]
    pub text: String,
    /// The workspace.
    pub team_id: String,
    /// The channel it was typed in.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// The user who typed it.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Where to post delayed responses (valid for 30 minutes).
    #[serde(default)]
    pub response_url: Option<String>,
    /// Opens a modal within 3 seconds; unique per invocation.
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// The app the command belongs to.
    #[serde(default)]
    pub api_app_id: Option<String>,
}

/// A Standard Webhooks payload as its spec recommends:
/// `{"type", "timestamp", "data": T}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct StandardEvent<T> {
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (RFC 3339).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The event's data.
    pub data: T,
}
