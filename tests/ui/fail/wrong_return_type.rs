use webhook::prelude::*;

#[webhook_handler("order.created")]
async fn handle(event: Event<serde_json::Value>) -> bool {
    let _ = event;
    true
}

fn main() {}
