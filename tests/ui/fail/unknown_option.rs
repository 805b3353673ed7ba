use webhook::prelude::*;

#[webhook_handler("order.created", retrys = 3)]
async fn handle(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    let _ = event;
    Ok(())
}

fn main() {}
