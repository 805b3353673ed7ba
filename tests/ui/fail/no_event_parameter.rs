use webhook::prelude::*;

#[webhook_handler("order.created")]
async fn handle(key: IdempotencyKey) -> Result<(), HandlerError> {
    let _ = key;
    Ok(())
}

fn main() {}
