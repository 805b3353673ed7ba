use webhook::prelude::*;

struct Orders;

impl Orders {
    #[webhook_handler("order.created")]
    async fn handle(&self, event: Event<serde_json::Value>) -> Result<(), HandlerError> {
        let _ = event;
        Ok(())
    }
}

fn main() {}
