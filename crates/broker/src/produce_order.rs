//! Keeps a connection's appends in request order when a produce must wait before it
//! appends (transaction version 2 adds its partitions to the transaction first): the
//! produces after it on the same connection append after it, as Kafka serves a connection
//! one request at a time. Produces that need not wait, behind none that does, append at
//! once.

use std::sync::Mutex;

use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

/// The produce order of one connection.
#[derive(Default)]
pub(crate) struct ProduceOrder {
    /// Ends (its sender dropped) when the last produce that took a turn has appended.
    last: Mutex<Option<oneshot::Receiver<()>>>,
}

/// A produce's place in its connection's order: it appends after the one before, and the
/// next appends after it is dropped.
pub(crate) struct Turn {
    before: Option<oneshot::Receiver<()>>,
    _done: oneshot::Sender<()>,
}

impl ProduceOrder {
    /// Whether a produce that took a turn has not appended yet.
    pub(crate) fn busy(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.as_mut().map(oneshot::Receiver::try_recv) {
            Some(Err(TryRecvError::Empty)) => true,
            Some(_) => {
                *last = None;
                false
            }
            None => false,
        }
    }

    /// The next place in the order.
    pub(crate) fn take_turn(&self) -> Turn {
        let (done, rx) = oneshot::channel();
        let before = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(rx);
        Turn {
            before,
            _done: done,
        }
    }
}

impl Turn {
    /// Waits until the produce before has appended.
    pub(crate) async fn wait(&mut self) {
        if let Some(rx) = self.before.take() {
            let _ = rx.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_follow_each_other() {
        let order = ProduceOrder::default();
        assert!(!order.busy());
        let mut first = order.take_turn();
        first.wait().await;
        assert!(order.busy());
        let mut second = order.take_turn();
        let waiting = tokio::spawn(async move {
            second.wait().await;
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second waits for the first");
        drop(first);
        let _ = waiting.await;
        assert!(!order.busy(), "both done");
    }
}
