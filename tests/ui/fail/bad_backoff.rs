use webhook::prelude::*;

#[webhook_handler("order.created", backoff = "10m..2s")]
async fn handle(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    let _ = event;
    Ok(())
}

fn main() {}
