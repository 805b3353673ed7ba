use webhook::prelude::*;

#[webhook_handler("order.created", queue = "{payments}")]
async fn handle(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    let _ = event;
    Ok(())
}

fn main() {}
