//! Slack slash commands and interactivity, typed.
//!
//! `cargo run --example slack_commands`
//!
//! Runs the ingest (a `slack` source) and a worker. Slack posts both as
//! `application/x-www-form-urlencoded`; the ingest verifies the raw bytes,
//! then reads the decoded form: a slash command is typed
//! `slash_command.<command>` (`slash_command./deploy`) and read from the
//! form's fields, an interactivity request by the `type` of the JSON in its
//! `payload` field (`block_actions`, `view_submission`). Handlers decode
//! nothing. Slack does not retry either, and answers the user only from the
//! `response_url`: reply there (or call `chat.postMessage`) from the handler.

mod common;

use serde::Deserialize;
use webhook::config::Source;
use webhook::payload::SlackSlashCommand;
use webhook::prelude::*;
use webhook::webhook_worker::worker::Worker;

/// Runs `/deploy <environment>`.
#[webhook_handler("slash_command./deploy", queue = "slack", name = "deploy-command")]
async fn deploy(event: Event<SlackSlashCommand>) -> Result<(), HandlerError> {
    let environment = event.text.split_whitespace().next().unwrap_or("staging");
    tracing::info!(
        team = %event.team_id,
        user = event.user_id.as_deref().unwrap_or("?"),
        environment,
        "deploy requested"
    );
    // A real app would start the deploy and POST its progress to
    // `event.response_url`.
    Ok(())
}

#[derive(Debug, Deserialize)]
struct BlockActions {
    user: User,
    actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// Handles button clicks (`block_actions`).
#[webhook_handler("block_actions", queue = "slack", name = "button-clicked")]
async fn button_clicked(event: Event<BlockActions>) -> Result<(), HandlerError> {
    for action in &event.actions {
        tracing::info!(
            user = %event.user.id,
            action = %action.action_id,
            value = action.value.as_deref().unwrap_or(""),
            "button clicked"
        );
    }
    Ok(())
}

const SECRET_VAR: &str = "SLACK_SIGNING_SECRET";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let (redis_url, _throwaway) = common::redis_or_throwaway()?;
    let secret = std::env::var(SECRET_VAR).unwrap_or_else(|_| "slack-example-secret".to_owned());
    let source = Source {
        name: "slack".into(),
        queue: "slack".into(),
        verifier: Verifier::new(
            Provider::Slack.scheme().ok_or("built-in")?,
            &[Secret::from(secret.as_str())],
        )?,
        event_types: None,
    };
    let listen = common::listen();
    let stop_ingest = common::start_ingest(&redis_url, vec![source], listen).await?;

    // Form bodies written already encoded, so the signed bytes are exactly
    // what curl sends.
    let send = |body: &str| {
        format!(
            "  ts=$(date +%s); body='{body}'\n  \
             sig=$(printf 'v0:%s:%s' \"$ts\" \"$body\" | openssl dgst -sha256 -hmac \"${{SLACK_SIGNING_SECRET:-slack-example-secret}}\" -hex | sed 's/.*= //')\n  \
             curl -s http://{listen}/webhooks/slack -H \"X-Slack-Request-Timestamp: $ts\" -H \"X-Slack-Signature: v0=$sig\" \
             -H 'Content-Type: application/x-www-form-urlencoded' -d \"$body\"; echo"
        )
    };
    eprintln!(
        "\nReady. A slash command:\n\n{}\n\nA button click:\n\n{}\n\n\
         Or set the Request URL of a slash command and of Interactivity to \
         http://<this host>:{}/webhooks/slack (the signing secret in {SECRET_VAR}).\n",
        send(
            "command=%2Fdeploy&text=prod&team_id=T0001&user_id=U0001&trigger_id=1.2.cmd&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1"
        ),
        send(
            "payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%221.2.btn%22%2C%22user%22%3A%7B%22id%22%3A%22U0001%22%7D%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22approve%22%2C%22value%22%3A%22order-7%22%7D%5D%7D"
        ),
        listen.port()
    );

    Worker::builder()
        .redis_url(redis_url)
        .queue("slack")
        .build()?
        .run(webhook::webhook_worker::shutdown_signal())
        .await?;
    let _ = stop_ingest.send(());
    Ok(())
}
