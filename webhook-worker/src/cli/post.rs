//! The smallest HTTP client `webhook send` needs: one plain-HTTP/1.1 POST
//! per connection, to the ingest's own address (no TLS, no redirects, no
//! proxies).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;

/// The longest an answer may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The most answer bytes read; the ingest's answers are a few dozen.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where to post: a parsed `http://` URL.
#[derive(Clone, Debug)]
pub(super) struct Target {
    uri: Uri,
    host: String,
    port: u16,
}

impl Target {
    /// Parses `url`; only `http://` URLs are accepted.
    pub(super) fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|_| {
            format!("`{url}` is not a URL; give one like http://127.0.0.1:8080/webhooks/<source>")
        })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "`{url}` is an https:// URL, but `webhook send` posts to the ingest's own plain-HTTP address and speaks no TLS; give its http:// address (the `listen` of the config), or leave --url out to use it"
                ));
            }
            _ => {
                return Err(format!(
                    "`{url}` is not an http:// URL; give one like http://127.0.0.1:8080/webhooks/<source>"
                ));
            }
        }
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| format!("`{url}` names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        Ok(Self { uri, host, port })
    }

    /// The URL, as given.
    pub(super) fn url(&self) -> String {
        self.uri.to_string()
    }
}

/// An answer: the status and the body, as text.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: String,
}

/// Why a request got no answer.
pub(super) enum PostError {
    /// No connection could be made.
    Connect(std::io::Error),
    /// The connection broke, or the answer was not HTTP.
    Http(hyper::Error),
    /// No answer within [`TIMEOUT`].
    Timeout,
    /// The answer's body was larger than [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// A header could not be sent.
    Header,
}

/// Posts `body` with `headers` to `target` on a new connection.
pub(super) async fn post(
    target: &Target,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Answer, PostError> {
    tokio::time::timeout(TIMEOUT, exchange(target, headers, body))
        .await
        .unwrap_or(Err(PostError::Timeout))
}

async fn exchange(target: &Target, headers: &HeaderMap, body: Bytes) -> Result<Answer, PostError> {
    let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(PostError::Connect)?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(PostError::Http)?;
    // Drives the connection; it ends when the answer is read and the
    // sender dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let path = target
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let authority = target
        .uri
        .authority()
        .map_or(target.host.as_str(), |a| a.as_str());
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .body(Full::new(body))
        .map_err(|_| PostError::Header)?;
    let sent = request.headers_mut();
    sent.insert(
        header::HOST,
        HeaderValue::from_str(authority).map_err(|_| PostError::Header)?,
    );
    sent.insert(
        header::USER_AGENT,
        HeaderValue::from_static(concat!("webhook-send/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in headers {
        sent.insert(name.clone(), value.clone());
    }
    let response = sender
        .send_request(request)
        .await
        .map_err(PostError::Http)?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|error| match error.downcast::<hyper::Error>() {
            Ok(error) => PostError::Http(*error),
            Err(_) => PostError::TooLarge,
        })?
        .to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_are_accepted() {
        let https = Target::parse("https://example.com/webhooks/x")
            .err()
            .unwrap_or_default();
        assert!(https.contains("plain-HTTP"), "{https}");
        assert!(Target::parse("example.com").is_err());
        assert!(Target::parse("ftp://example.com/").is_err());
        let target = Target::parse("http://[::1]:9000/webhooks/x");
        assert!(target.is_ok_and(|t| t.host == "::1" && t.port == 9000));
    }
}
