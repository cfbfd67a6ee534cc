//! `HttpTransport`: the [`Transport`] to an [`HttpServer`](super::HttpServer). Each call is
//! one `POST` on a kept-alive HTTP/1.1 connection from a small pool (a connection carries
//! one call at a time; concurrent calls open more, and up to [`HTTP_IDLE_CONNECTIONS_MAX`]
//! are kept for reuse).
//!
//! Failures of the network are `ServiceError::Unavailable`, which the client's and the
//! worker's retry loops retry with the same request (every call is idempotent by its request
//! id or task token): refused or reset connections, a server that closed a pooled connection,
//! and a call with no answer within [`TransportOptions::call_timeout`] — longer than the
//! service's long polls, which answer empty when they time out. What the server refuses is
//! its own typed error (`Unauthorized`, `InvalidRequest`, `LimitExceeded`, ...).

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: opens TCP connections, drives each on its own tokio task, and times calls on tokio's clock"
)]

use super::HttpError;
use super::endpoint::Endpoint;
use crate::limits::{HTTP_IDLE_CONNECTIONS_MAX, HTTP_REQUEST_BYTES_MAX, HTTP_RESPONSE_BYTES_MAX};
use crate::service::{Request, Response, ServiceError, Transport};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A pooled connection idle longer than this is closed rather than reused: the server
/// closes idle connections after its header-read timeout (30 s by default), and a call sent
/// on a connection the server is closing would fail.
const IDLE_REUSE_MAX: Duration = Duration::from_secs(20);

/// How a transport reaches its server.
#[derive(Clone)]
pub struct TransportOptions {
    /// The server's shared secret, sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// How long a call may take before it fails as `Unavailable` (and is retried). Longer
    /// than the service's long polls (`ServiceConfig::poll_timeout` and `outcome_wait`,
    /// 60 s by default), which answer empty when they time out.
    pub call_timeout: Duration,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            token: None,
            call_timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for TransportOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say whether there is one, never what it is.
        f.debug_struct("TransportOptions")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// A [`Transport`] to a Warpflow server over HTTP. Cheap to clone; clones share the pool.
///
/// ```no_run
/// use std::sync::Arc;
/// use warpflow_engine::adapters::http::{HttpTransport, TransportOptions};
/// use warpflow_engine::adapters::{TokioClock, os_seed};
/// use warpflow_engine::client::Client;
///
/// # fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let options = TransportOptions { token: std::env::var("WARPFLOW_TOKEN").ok(), ..TransportOptions::default() };
/// let transport = HttpTransport::new("http://127.0.0.1:7233", options)?;
/// let client = Client::new(Arc::new(transport), Arc::new(TokioClock::system()), os_seed());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HttpTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("url", &self.inner.endpoint.url)
            .finish_non_exhaustive()
    }
}

struct Inner {
    endpoint: Endpoint,
    /// `Bearer <token>`, when there is a token.
    authorization: Option<HeaderValue>,
    host: HeaderValue,
    call_timeout: Duration,
    connect_timeout: Duration,
    /// Connections ready for another call, most recently used last.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

/// Why one exchange failed, and whether the request may not have left.
enum Failed {
    /// No response arrived: the connection was closed or broken before one did.
    NoResponse(ServiceError),
    /// Something went wrong after the response started.
    Other(ServiceError),
}

impl Failed {
    fn into_error(self) -> ServiceError {
        match self {
            Failed::NoResponse(e) | Failed::Other(e) => e,
        }
    }
}

impl HttpTransport {
    /// A transport to the server at `url` (`http://host:port`). Connects lazily, at the
    /// first call.
    pub fn new(url: &str, options: TransportOptions) -> Result<HttpTransport, HttpError> {
        let endpoint = Endpoint::parse(url)?;
        let invalid = |reason: &str| HttpError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let host =
            HeaderValue::from_str(&endpoint.host).map_err(|_| invalid("the host is not a valid header"))?;
        let authorization = match &options.token {
            None => None,
            Some(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| invalid("the token has characters a header cannot carry"))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(HttpTransport {
            inner: Arc::new(Inner {
                endpoint,
                authorization,
                host,
                call_timeout: options.call_timeout,
                connect_timeout: options.connect_timeout,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The server URL, as given.
    pub fn url(&self) -> &str {
        &self.inner.endpoint.url
    }
}

impl Transport for HttpTransport {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, ServiceError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.call(request).await })
    }
}

impl Inner {
    async fn call(&self, request: Request) -> Result<Response, ServiceError> {
        let body = encode(&request)?;
        match tokio::time::timeout(self.call_timeout, self.exchange(body)).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::Unavailable(format!(
                "no answer from {} within {}",
                self.endpoint.url,
                humantime::format_duration(self.call_timeout)
            ))),
        }
    }

    /// Sends `body` and decodes the reply. A pooled connection that turns out closed before
    /// answering is replaced by a fresh one once, rather than failing the call.
    async fn exchange(&self, body: Bytes) -> Result<Response, ServiceError> {
        let answer = match self.idle_connection() {
            Some(pooled) => match self.send(pooled, body.clone()).await {
                Err(Failed::NoResponse(_)) => self.send(self.connect().await?, body).await,
                answer => answer,
            },
            None => self.send(self.connect().await?, body).await,
        };
        let (status, bytes) = answer.map_err(Failed::into_error)?;
        decode_reply(&self.endpoint.url, status, &bytes)
    }

    /// Posts `body` on `sender`'s connection; returns the connection to the pool once the
    /// response is read.
    async fn send(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), Failed> {
        let url = &self.endpoint.url;
        sender.ready().await.map_err(|e| {
            Failed::NoResponse(ServiceError::Unavailable(format!(
                "connection to {url} closed: {e}"
            )))
        })?;
        let mut request = hyper::Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self
            .endpoint
            .call_path
            .parse()
            .map_err(|e| Failed::Other(ServiceError::InvalidRequest(format!("bad call path: {e}"))))?;
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.host.clone());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(authorization) = &self.authorization {
            headers.insert(header::AUTHORIZATION, authorization.clone());
        }
        let response = sender.send_request(request).await.map_err(|e| {
            Failed::NoResponse(ServiceError::Unavailable(format!("call to {url} failed: {e}")))
        })?;
        let status = response.status();
        let bytes = match Limited::new(response.into_body(), HTTP_RESPONSE_BYTES_MAX)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(Failed::Other(ServiceError::LimitExceeded {
                    what: format!("response body from {url}, in bytes"),
                    limit: HTTP_RESPONSE_BYTES_MAX,
                }));
            }
            Err(e) => {
                return Err(Failed::Other(ServiceError::Unavailable(format!(
                    "reading the answer from {url} failed: {e}"
                ))));
            }
        };
        self.release(sender);
        Ok((status, bytes))
    }

    /// A pooled connection still worth using, if there is one.
    fn idle_connection(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while let Some(pooled) = idle.pop() {
            if !pooled.sender.is_closed() && pooled.since.elapsed() < IDLE_REUSE_MAX {
                return Some(pooled.sender);
            }
        }
        None
    }

    fn release(&self, sender: SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < HTTP_IDLE_CONNECTIONS_MAX && !sender.is_closed() {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Opens a connection and starts the task that drives it.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ServiceError> {
        let url = &self.endpoint.url;
        let stream = match tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect(&self.endpoint.address),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(ServiceError::Unavailable(format!("cannot connect to {url}: {e}"))),
            Err(_) => {
                return Err(ServiceError::Unavailable(format!(
                    "cannot connect to {url}: no answer within {}",
                    humantime::format_duration(self.connect_timeout)
                )));
            }
        };
        // Calls are small and answered at once: do not hold them back for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ServiceError::Unavailable(format!("cannot talk HTTP to {url}: {e}")))?;
        // The task ends when the connection closes; its error, if any, surfaces on the call.
        drop(tokio::spawn(async move {
            let _ = connection.await;
        }));
        Ok(sender)
    }
}

/// The request's JSON, refused here when the server would refuse it for its size.
fn encode(request: &Request) -> Result<Bytes, ServiceError> {
    let body = serde_json::to_vec(request)
        .map_err(|e| ServiceError::InvalidRequest(format!("the request does not serialize: {e}")))?;
    if body.len() > HTTP_REQUEST_BYTES_MAX {
        return Err(ServiceError::LimitExceeded {
            what: format!(
                "request body of {} ({} bytes), in bytes",
                <&str>::from(request),
                body.len()
            ),
            limit: HTTP_REQUEST_BYTES_MAX,
        });
    }
    Ok(Bytes::from(body))
}

/// The call's result from the reply body. A body that is not a Warpflow reply (a proxy's
/// error page, say) is `Unavailable` for a 5xx status, which is worth retrying, and an
/// `InvalidRequest` naming the status otherwise.
fn decode_reply(url: &str, status: StatusCode, bytes: &[u8]) -> Result<Response, ServiceError> {
    match serde_json::from_slice::<Result<Response, ServiceError>>(bytes) {
        Ok(result) => result,
        Err(e) => {
            const SHOWN: usize = 200;
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]);
            let what =
                format!("{url} answered {status} with a body that is not a Warpflow reply ({e}): {text}");
            Err(match status {
                StatusCode::UNAUTHORIZED => ServiceError::Unauthorized(what),
                s if s.is_server_error() => ServiceError::Unavailable(what),
                _ => ServiceError::InvalidRequest(what),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Payload;

    #[test]
    fn replies_decode_to_results_and_foreign_bodies_to_typed_errors() {
        let ok = serde_json::to_vec(&Ok::<Response, ServiceError>(Response::Ack)).unwrap();
        assert_eq!(decode_reply("u", StatusCode::OK, &ok), Ok(Response::Ack));
        let refused = serde_json::to_vec(&Err::<Response, ServiceError>(ServiceError::Unauthorized(
            "no".into(),
        )))
        .unwrap();
        assert_eq!(
            decode_reply("u", StatusCode::UNAUTHORIZED, &refused),
            Err(ServiceError::Unauthorized("no".into()))
        );
        let gateway = decode_reply("u", StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>").unwrap_err();
        assert!(gateway.is_retryable(), "{gateway}");
        assert!(gateway.to_string().contains("502 Bad Gateway"), "{gateway}");
        let other = decode_reply("u", StatusCode::NOT_FOUND, b"nope").unwrap_err();
        assert!(matches!(other, ServiceError::InvalidRequest(_)), "{other}");
    }

    #[test]
    fn an_oversized_request_is_refused_before_it_is_sent() {
        let request = Request::Query {
            workflow_id: "w".into(),
            run_id: None,
            name: "q".into(),
            args: Payload::from(serde_json::Value::String("x".repeat(HTTP_REQUEST_BYTES_MAX))),
        };
        let error = encode(&request).unwrap_err();
        assert!(
            matches!(&error, ServiceError::LimitExceeded { limit, .. } if *limit == HTTP_REQUEST_BYTES_MAX),
            "{error}"
        );
        assert!(error.to_string().contains("request body of Query"), "{error}");
    }

    #[test]
    fn the_token_is_never_shown() {
        let options = TransportOptions {
            token: Some("s3cret".into()),
            ..TransportOptions::default()
        };
        assert!(!format!("{options:?}").contains("s3cret"));
        let transport = HttpTransport::new("http://127.0.0.1:1", options).unwrap();
        assert!(!format!("{transport:?}").contains("s3cret"));
        assert_eq!(transport.url(), "http://127.0.0.1:1");
    }
}
