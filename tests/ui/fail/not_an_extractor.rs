use webhook::prelude::*;

#[webhook_handler("order.created")]
async fn handle(event: Event<serde_json::Value>, name: String) -> Result<(), HandlerError> {
    let _ = (event, name);
    Ok(())
}

fn main() {}
