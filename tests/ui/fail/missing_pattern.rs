use webhook::prelude::*;

#[webhook_handler]
async fn handle(event: Event<serde_json::Value>) -> Result<(), HandlerError> {
    let _ = event;
    Ok(())
}

fn main() {}
