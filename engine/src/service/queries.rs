//! Queries in flight. A query is not durable: it waits here until a worker polling the run's
//! queue takes it, and its caller waits for the worker's answer (or gives up).

use super::api::QueryTask;
use crate::ids::TaskQueue;
use crate::payload::Payload;
use crate::storage::RunKey;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

type Answer = Result<Payload, String>;

#[derive(Debug, Default)]
pub(crate) struct Queries {
    /// A std mutex: held for map updates only, never across an await.
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    next_id: u64,
    waiting: BTreeMap<u64, (TaskQueue, QueryTask)>,
    callers: BTreeMap<u64, oneshot::Sender<Answer>>,
}

impl Queries {
    /// Registers a query; the receiver gets the worker's answer.
    pub fn register(
        &self,
        queue: TaskQueue,
        run: RunKey,
        name: String,
        args: Payload,
    ) -> (u64, oneshot::Receiver<Answer>) {
        let (tx, rx) = oneshot::channel();
        let mut book = self.lock();
        book.next_id += 1;
        let query_id = book.next_id;
        book.waiting.insert(
            query_id,
            (
                queue,
                QueryTask {
                    query_id,
                    run,
                    name,
                    args,
                },
            ),
        );
        book.callers.insert(query_id, tx);
        (query_id, rx)
    }

    /// The oldest query waiting for a worker of `queue`.
    pub fn take_for(&self, queue: &TaskQueue) -> Option<QueryTask> {
        let mut book = self.lock();
        let id = book
            .waiting
            .iter()
            .find(|(_, (q, _))| q == queue)
            .map(|(id, _)| *id)?;
        book.waiting.remove(&id).map(|(_, task)| task)
    }

    /// A worker's answer; an answer nobody waits for any more is dropped.
    pub fn answer(&self, query_id: u64, answer: Answer) {
        if let Some(tx) = self.lock().callers.remove(&query_id) {
            let _ = tx.send(answer);
        }
    }

    /// The caller gave up.
    pub fn forget(&self, query_id: u64) {
        let mut book = self.lock();
        book.waiting.remove(&query_id);
        book.callers.remove(&query_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
