use webhook::prelude::*;

struct Order {
    id: String,
}

#[webhook_handler("order.created")]
async fn handle(event: Event<Order>) -> Result<(), HandlerError> {
    let _ = &event.id;
    Ok(())
}

fn main() {}
