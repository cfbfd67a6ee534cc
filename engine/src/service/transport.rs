//! How clients and workers reach the service: a request/response [`Transport`]. The
//! in-process transport calls the service directly; a network transport (later) and the
//! simulator's network carry the same [`Request`]s and [`Response`]s.

use super::Service;
use super::api::{Request, Response};
use super::error::ServiceError;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Carries requests to the service. Implementations may lose or repeat messages; callers
/// retry retryable errors with the same request ids.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` and waits for its response.
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, ServiceError>>;
}

/// A transport to a service in the same process.
#[derive(Clone, Debug)]
pub struct InProcess {
    service: Arc<Service>,
}

impl InProcess {
    /// A transport to `service`.
    pub fn new(service: Arc<Service>) -> InProcess {
        InProcess { service }
    }
}

impl Transport for InProcess {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, ServiceError>> {
        let service = self.service.clone();
        Box::pin(async move { service.handle(request).await })
    }
}
