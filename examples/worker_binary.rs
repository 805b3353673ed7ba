//! A worker binary as an application ships it: its handlers, and
//! `worker_main` as the whole `main`.
//!
//! ```sh
//! cargo run --example worker_binary                 # run the worker (needs PostgreSQL and Redis)
//! cargo run --example worker_binary -- handlers     # list its handlers (needs neither)
//! cargo run --example worker_binary -- dlq list     # its dead letters (needs Redis only)
//! ```
//!
//! The database connection is made in the async set-up, which runs only
//! when the worker itself runs, so the operator commands work while the
//! database is down.

use std::process::ExitCode;

use webhook::prelude::*;

#[derive(serde::Deserialize)]
struct Order {
    order: u64,
}

/// Records each order once: the idempotency key is the primary key.
#[webhook_handler("order.created", name = "record-order", queue = "orders")]
async fn record_order(
    event: Event<Order>,
    db: State<tokio_postgres::Client>,
    key: IdempotencyKey,
) -> Result<(), HandlerError> {
    let order = i64::try_from(event.order)
        .map_err(|_| HandlerError::reject(format!("order {} is out of range", event.order)))?;
    let key: &str = &key;
    db.execute(
        "INSERT INTO orders (idempotency_key, order_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&key, &order],
    )
    .await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    webhook::cli::worker_main(async |worker| {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to PostgreSQL (DATABASE_URL): {e}"))?;
        tokio::spawn(connection);
        db.batch_execute(
            "CREATE TABLE IF NOT EXISTS orders (idempotency_key TEXT PRIMARY KEY, order_id BIGINT NOT NULL)",
        )
        .await?;
        Ok(worker.state(db))
    })
    .await
}
