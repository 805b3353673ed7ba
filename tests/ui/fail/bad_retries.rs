use webhook::prelude::*;

#[webhook_handler("order.created", retries = "5")]
async fn handle(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    let _ = event;
    Ok(())
}

fn main() {}
