//! A child process whose standard error a test reads as it comes; killed
//! on drop.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running child, its standard error collected line by line.
pub struct Watched {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Watched {
    /// Spawns `command` with standard error piped (standard input and
    /// output go nowhere).
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Self { child, stderr }
    }

    /// Waits until standard error holds `what`; returns all of it so far.
    /// A liveness bound, not a speed assertion.
    pub fn until(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.stderr.lock().unwrap().clone();
            if text.contains(what) {
                return text;
            }
            assert!(Instant::now() < deadline, "never logged {what:?}:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
