//! `Stepped`: a service call driven by the test one poll at a time. With storage that
//! answers late (`HookedStorage::answering_late`) a test can stop a call just after its
//! lease or its commit landed and drop it there, as a server drops the call of a connection
//! it found closed.

#![allow(dead_code)]

use futures::future::LocalBoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use warpflow_engine::service::{Request, Response, Service, ServiceError};

/// Records whether it was woken since it was last reset.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A service call driven by the test, one poll at a time.
pub struct Stepped {
    call: LocalBoxFuture<'static, Result<Response, ServiceError>>,
    woken: Arc<Flag>,
    answer: Option<Result<Response, ServiceError>>,
}

impl Stepped {
    /// The call, not polled yet.
    pub fn new(service: &Arc<Service>, request: Request) -> Stepped {
        let service = service.clone();
        Stepped {
            call: Box::pin(async move { service.handle(request).await }),
            woken: Arc::default(),
            answer: None,
        }
    }

    /// Polls once; true once it has answered.
    pub fn step(&mut self) -> bool {
        if self.answer.is_some() {
            return true;
        }
        self.woken.0.store(false, Ordering::SeqCst);
        let waker = Waker::from(self.woken.clone());
        if let Poll::Ready(answer) = self.call.as_mut().poll(&mut Context::from_waker(&waker)) {
            self.answer = Some(answer);
        }
        self.answer.is_some()
    }

    /// Polls until it answers or waits for something only another call can bring (it
    /// parks on a long poll: nothing woke it); true once it has answered.
    pub fn settle(&mut self) -> bool {
        while !self.step() {
            if !self.woken.0.load(Ordering::SeqCst) {
                return false;
            }
        }
        true
    }

    /// Polls until `landed` holds (its lease or commit took effect), it answers, or it
    /// parks; true once it has answered.
    pub fn step_until(&mut self, landed: impl Fn() -> bool) -> bool {
        while !landed() {
            if self.step() {
                return true;
            }
            if !self.woken.0.load(Ordering::SeqCst) {
                return false;
            }
        }
        self.answer.is_some()
    }

    /// Whether something woke it since it was last polled (it has something to look at).
    pub fn was_woken(&self) -> bool {
        self.woken.0.load(Ordering::SeqCst)
    }

    /// Its answer, once it has answered.
    pub fn answer(&self) -> Option<&Result<Response, ServiceError>> {
        self.answer.as_ref()
    }
}
