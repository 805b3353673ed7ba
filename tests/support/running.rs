//! A worker running in the test, and waiting for a condition.

use std::time::{Duration, Instant};

use webhook::webhook_worker::worker::{WorkerBuilder, WorkerError};

/// A worker running on the test's runtime until [`Running::stop`].
pub struct Running {
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), WorkerError>>,
}

impl Running {
    pub fn start(builder: WorkerBuilder) -> Self {
        super::logs::quiet();
        let worker = builder.build().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(worker.run(async {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Asks the worker to stop and waits until it did, without an error.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// Waits until `done` holds; a liveness bound, not a speed assertion.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
