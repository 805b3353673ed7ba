//! A TCP proxy between the code under test and the test Redis that can lose
//! a reply on the wire: the command reaches Redis and runs, but its answer
//! never reaches the client, whose connection is closed instead, as when a
//! network path breaks between the two.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy sends Redis after a command whose reply it will swallow;
/// its echo, in order after that reply, says the command has run.
const SENTINEL: &[u8] = b"webhook-test-proxy-sentinel";

#[derive(Default)]
struct Shared {
    /// Arguments armed: the next command carrying one loses its reply.
    armed: Mutex<Vec<Vec<u8>>>,
    /// Replies swallowed so far.
    dropped: AtomicUsize,
}

/// A proxy on `127.0.0.1:<free port>` to a Redis on `upstream`.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(upstream).await {
                            serve(client, server, shared).await;
                        }
                    });
                }
            }
        });
        Self { addr, shared, task }
    }

    /// The Redis URL that goes through the proxy.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Arms one lost reply: the next command with an argument equal to
    /// `argument` (e.g. a script's SHA1 for `EVALSHA`) runs in Redis, then
    /// its reply, and any other reply on that connection still in flight, is
    /// swallowed and the client's connection closed.
    pub fn lose_reply_to(&self, argument: impl Into<Vec<u8>>) {
        self.shared.armed.lock().unwrap().push(argument.into());
    }

    /// How many replies were swallowed so far.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let swallow = Arc::new(AtomicBool::new(false));
    let up = commands(
        client_read,
        server_write,
        Arc::clone(&shared),
        Arc::clone(&swallow),
    );
    let down = replies(server_read, client_write, shared, swallow);
    // Either side ending ends the connection: both halves are dropped.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Client to Redis, one whole command at a time, so a sentinel can follow
/// a matching command without splitting another.
async fn commands(
    mut client: OwnedReadHalf,
    mut server: OwnedWriteHalf,
    shared: Arc<Shared>,
    swallow: Arc<AtomicBool>,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buffer.extend_from_slice(&chunk[..n]);
        while let Some((length, arguments)) = parse_command(&buffer) {
            let matched = {
                let mut armed = shared.armed.lock().unwrap();
                let found = armed
                    .iter()
                    .position(|wanted| arguments.iter().any(|a| a == wanted));
                found.map(|i| armed.remove(i)).is_some()
            };
            let command: Vec<u8> = buffer.drain(..length).collect();
            if matched {
                // From here on nothing reaches the client; the command and
                // the sentinel go to Redis, nothing the client sends after.
                swallow.store(true, Ordering::SeqCst);
                let mut out = command;
                out.extend_from_slice(
                    format!("*2\r\n$4\r\nECHO\r\n${}\r\n", SENTINEL.len()).as_bytes(),
                );
                out.extend_from_slice(SENTINEL);
                out.extend_from_slice(b"\r\n");
                if server.write_all(&out).await.is_err() {
                    return;
                }
                // Wait for the other side to see the sentinel and close.
                return std::future::pending().await;
            }
            if server.write_all(&command).await.is_err() {
                return;
            }
        }
    }
}

/// Redis to client; once swallowing, discards everything up to the
/// sentinel's echo, then returns, which closes the client's connection.
async fn replies(
    mut server: OwnedReadHalf,
    mut client: OwnedWriteHalf,
    shared: Arc<Shared>,
    swallow: Arc<AtomicBool>,
) {
    let mut swallowed = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match server.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if swallow.load(Ordering::SeqCst) {
            swallowed.extend_from_slice(&chunk[..n]);
            if swallowed
                .windows(SENTINEL.len())
                .any(|window| window == SENTINEL)
            {
                shared.dropped.fetch_add(1, Ordering::SeqCst);
                let _ = client.shutdown().await;
                return;
            }
            continue;
        }
        if client.write_all(&chunk[..n]).await.is_err() {
            return;
        }
    }
}

/// One RESP command (`*<n>` then `n` bulk strings) at the start of `buffer`:
/// its length in bytes and its arguments; `None` until it is complete.
fn parse_command(buffer: &[u8]) -> Option<(usize, Vec<Vec<u8>>)> {
    fn line(buffer: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = buffer.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        Some((&buffer[at..at + end], at + end + 2))
    }
    let (header, mut at) = line(buffer, 0)?;
    let count: usize = std::str::from_utf8(header.strip_prefix(b"*")?)
        .ok()?
        .parse()
        .ok()?;
    let mut arguments = Vec::with_capacity(count);
    for _ in 0..count {
        let (header, next) = line(buffer, at)?;
        let length: usize = std::str::from_utf8(header.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        let end = next + length;
        arguments.push(buffer.get(next..end)?.to_vec());
        at = end + 2;
        if buffer.len() < at {
            return None;
        }
    }
    Some((at, arguments))
}
