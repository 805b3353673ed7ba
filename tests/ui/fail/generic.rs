use webhook::prelude::*;

#[webhook_handler("order.created")]
async fn handle<T: serde::de::DeserializeOwned + Send>(event: Event<T>) -> Result<(), HandlerError> {
    let _ = event;
    Ok(())
}

fn main() {}
