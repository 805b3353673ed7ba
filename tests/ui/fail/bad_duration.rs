use webhook::prelude::*;

#[webhook_handler("order.created", timeout = "soon")]
async fn handle(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    let _ = event;
    Ok(())
}

fn main() {}
