//! GitHub CI events: pushes and pull requests, typed.
//!
//! `cargo run --example github_ci`
//!
//! Runs the ingest (a `github` source) and a worker. The event type is the
//! `X-GitHub-Event` header plus the payload's `action` when it has one, so
//! `push` arrives as `push` and a pull request as `pull_request.opened`,
//! `pull_request.synchronize`, ...; GitHub's `ping` is answered by the
//! ingest itself. Hooks with content type `application/x-www-form-urlencoded`
//! (the API's default, `payload=<JSON>`) arrive the same way: the type's
//! action and `Event<T>` both read the JSON inside the form.

mod common;

use serde::Deserialize;
use webhook::config::Source;
use webhook::prelude::*;
use webhook::webhook_worker::worker::Worker;

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Commit {
    id: String,
    message: String,
}

#[derive(Debug, Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    repository: Repository,
    #[serde(default)]
    commits: Vec<Commit>,
}

#[derive(Debug, Deserialize)]
struct Head {
    sha: String,
}

#[derive(Debug, Deserialize)]
struct PullRequestDetails {
    title: String,
    head: Head,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    action: String,
    number: u64,
    pull_request: PullRequestDetails,
    repository: Repository,
}

/// Starts a build for every push to a branch.
#[webhook_handler("push", queue = "ci", name = "build-push")]
async fn build_push(event: Event<Push>, key: IdempotencyKey) -> Result<(), HandlerError> {
    let Some(branch) = event.git_ref.strip_prefix("refs/heads/") else {
        tracing::info!(git_ref = %event.git_ref, "not a branch; nothing to build");
        return Ok(());
    };
    for commit in &event.commits {
        tracing::info!(commit = %commit.id, message = %commit.message.lines().next().unwrap_or(""), "in the push");
    }
    // A real CI would enqueue a build here, passing `key` as the build's
    // idempotency key so a re-run of this handler starts no second build.
    tracing::info!(repo = %event.repository.full_name, %branch, sha = %event.after, %key, "build started");
    Ok(())
}

/// Checks pull requests when they are opened or get new commits.
#[webhook_handler("pull_request.*", queue = "ci", name = "check-pull-request")]
async fn check_pull_request(event: Event<PullRequest>) -> Result<(), HandlerError> {
    match event.action.as_str() {
        "opened" | "synchronize" | "reopened" => tracing::info!(
            repo = %event.repository.full_name,
            number = event.number,
            title = %event.pull_request.title,
            sha = %event.pull_request.head.sha,
            "checks started"
        ),
        other => tracing::info!(number = event.number, action = other, "nothing to check"),
    }
    Ok(())
}

const SECRET_VAR: &str = "GITHUB_WEBHOOK_SECRET";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let (redis_url, _throwaway) = common::redis_or_throwaway()?;
    let secret = std::env::var(SECRET_VAR).unwrap_or_else(|_| "github-example-secret".to_owned());
    let source = Source {
        name: "github".into(),
        queue: "ci".into(),
        verifier: Verifier::new(
            Provider::GitHub.scheme().ok_or("built-in")?,
            &[Secret::from(secret.as_str())],
        )?,
        event_types: None,
    };
    let listen = common::listen();
    let stop_ingest = common::start_ingest(&redis_url, vec![source], listen).await?;

    let send = |event: &str, delivery: &str, body: &str| {
        format!(
            "  body='{body}'\n  \
             sig=$(printf '%s' \"$body\" | openssl dgst -sha256 -hmac \"${{GITHUB_WEBHOOK_SECRET:-github-example-secret}}\" -hex | sed 's/.*= //')\n  \
             curl -s http://{listen}/webhooks/github -H 'X-GitHub-Event: {event}' -H 'X-GitHub-Delivery: {delivery}' \
             -H \"X-Hub-Signature-256: sha256=$sig\" -d \"$body\"; echo"
        )
    };
    eprintln!(
        "\nReady. A push:\n\n{}\n\nA pull request:\n\n{}\n\n\
         Or point a repository's webhook at http://<this host>:{}/webhooks/github (content type application/json \
         or application/x-www-form-urlencoded, the same secret in {SECRET_VAR}).\n",
        send(
            "push",
            "delivery-1",
            r#"{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","repository":{"full_name":"octo/app"},"commits":[{"id":"6113728f","message":"Fix the build"}]}"#
        ),
        send(
            "pull_request",
            "delivery-2",
            r#"{"action":"opened","number":7,"pull_request":{"title":"Add caching","head":{"sha":"0d1a26e6"}},"repository":{"full_name":"octo/app"}}"#
        ),
        listen.port()
    );

    Worker::builder()
        .redis_url(redis_url)
        .queue("ci")
        .build()?
        .run(webhook::webhook_worker::shutdown_signal())
        .await?;
    let _ = stop_ingest.send(());
    Ok(())
}
