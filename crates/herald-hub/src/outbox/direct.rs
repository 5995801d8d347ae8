//! Direct writes: a push that reaches an idle connection goes straight to its socket.
//!
//! Queueing a message and waking the connection's task costs more than the write itself when
//! every delivery is its own write (a task wake-up, often a thread wake-up, a poll). So while a
//! connection's task is idle with nothing left to write, it *lends* its socket to the outbox
//! ([`Outbox::lend`](super::Outbox::lend)), and a push into the empty queue writes the frame
//! at once from the pushing thread (the fan-out loop, say), under the outbox's lock.
//!
//! Order is kept by three rules, all under that lock:
//! - only an empty queue is lent, and a lent socket takes every push until it refuses one;
//! - a refused or partly written frame ends the loan: the message (or the frame's unwritten
//!   rest, marked as such) is queued and the task woken, and everything after it queues behind;
//! - the task takes the loan back ([`Outbox::reclaim`](super::Outbox::reclaim)) before it
//!   writes or reads anything itself, and lends again only when it is idle once more.

use bytes::Bytes;

/// A connection's socket as its outbox sees it while lent: something that writes one
/// WebSocket frame (or whatever frame the transport speaks) without waiting.
pub trait DirectSink: Send + Sync + std::fmt::Debug {
    /// Writes `message` as one frame, binary or text, if the socket takes it now.
    fn write_frame(&self, binary: bool, message: &Bytes) -> Direct;
}

/// What became of a direct write.
#[derive(Debug)]
pub enum Direct {
    /// The whole frame went out.
    Written,
    /// Part of the frame went out; these are the framed bytes still to write, before anything
    /// else.
    Partial(Bytes),
    /// Nothing went out (the socket is full, or failed): queue the message instead.
    Refused,
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use herald_proto::{DisconnectCode, Protocol};

    use super::*;
    use crate::outbox::{Drained, Lend, Outbox};

    /// A socket that records what it takes and answers as told.
    #[derive(Debug, Default)]
    struct Recorder {
        written: Mutex<Vec<Bytes>>,
        /// The answers to the next writes, oldest first; `Written` once they run out.
        answers: Mutex<Vec<Answer>>,
    }

    #[derive(Debug, Clone, Copy)]
    enum Answer {
        Refuse,
        /// Takes this many bytes of the message.
        TakeOnly(usize),
    }

    impl DirectSink for Recorder {
        fn write_frame(&self, _binary: bool, message: &Bytes) -> Direct {
            let answer = {
                let mut answers = self.answers.lock().expect("test lock");
                (!answers.is_empty()).then(|| answers.remove(0))
            };
            match answer {
                None => {
                    self.written
                        .lock()
                        .expect("test lock")
                        .push(message.clone());
                    Direct::Written
                }
                Some(Answer::Refuse) => Direct::Refused,
                Some(Answer::TakeOnly(taken)) => {
                    let written = message.slice(..taken);
                    self.written.lock().expect("test lock").push(written);
                    Direct::Partial(message.slice(taken..))
                }
            }
        }
    }

    fn lent(answers: Vec<Answer>) -> (Outbox, Arc<Recorder>) {
        let outbox = Outbox::new(Protocol::Json, 1 << 20);
        let recorder = Arc::new(Recorder {
            answers: Mutex::new(answers),
            ..Recorder::default()
        });
        let sink: Arc<dyn DirectSink> = recorder.clone();
        assert_eq!(outbox.lend(|| sink), Lend::Lent, "an empty queue is lent");
        (outbox, recorder)
    }

    fn written(recorder: &Recorder) -> Vec<Bytes> {
        recorder.written.lock().expect("test lock").clone()
    }

    fn queued(outbox: &Outbox) -> Vec<Bytes> {
        match outbox.try_drain() {
            Some(Drained::Messages(messages)) => messages,
            None => Vec::new(),
            Some(other) => panic!("expected messages, got {other:?}"),
        }
    }

    #[test]
    fn a_lent_socket_takes_pushes_without_queueing_them() {
        let (outbox, recorder) = lent(Vec::new());
        outbox.push(Bytes::from_static(b"1")).expect("open");
        outbox.push(Bytes::from_static(b"2")).expect("open");
        assert_eq!(written(&recorder), [&b"1"[..], b"2"]);
        assert!(queued(&outbox).is_empty());
        assert!(outbox.reclaim().is_none(), "nothing was left unwritten");
    }

    #[test]
    fn after_a_refusal_everything_queues_behind_the_refused_message() {
        let (outbox, recorder) = lent(vec![Answer::Refuse]);
        outbox.push(Bytes::from_static(b"1")).expect("open");
        // The socket would take this one, but it must not overtake "1".
        outbox.push(Bytes::from_static(b"2")).expect("open");
        assert!(written(&recorder).is_empty());
        assert!(outbox.reclaim().is_none());
        assert_eq!(queued(&outbox), [&b"1"[..], b"2"]);
    }

    #[test]
    fn the_rest_of_a_partial_write_goes_first_and_only_through_reclaim() {
        let (outbox, recorder) = lent(vec![Answer::TakeOnly(2)]);
        outbox.push(Bytes::from_static(b"abcd")).expect("open");
        outbox.push(Bytes::from_static(b"next")).expect("open");
        assert_eq!(written(&recorder), [&b"ab"[..]]);
        assert_eq!(outbox.reclaim().as_deref(), Some(&b"cd"[..]));
        assert_eq!(queued(&outbox), [&b"next"[..]]);
    }

    #[test]
    fn a_close_keeps_the_rest_of_a_partial_write() {
        let (outbox, _recorder) = lent(vec![Answer::TakeOnly(1)]);
        outbox.push(Bytes::from_static(b"abc")).expect("open");
        outbox.push(Bytes::from_static(b"dropped")).expect("open");
        // A close that drops the queue must not cut a frame in half on the wire.
        outbox.close(DisconnectCode::SLOW.into());
        assert_eq!(outbox.reclaim().as_deref(), Some(&b"bc"[..]));
        match outbox.try_drain() {
            Some(Drained::Close(messages, reason)) => {
                assert!(messages.is_empty());
                assert_eq!(reason.code, DisconnectCode::SLOW.code);
            }
            other => panic!("expected the close, got {other:?}"),
        }
    }

    #[test]
    fn a_queue_with_messages_is_not_lent_and_a_reclaimed_socket_takes_nothing() {
        let outbox = Outbox::new(Protocol::Json, 1 << 20);
        let recorder = Arc::new(Recorder::default());
        let sink: Arc<dyn DirectSink> = recorder.clone();
        outbox.push(Bytes::from_static(b"waiting")).expect("open");
        assert_eq!(
            outbox.lend(|| sink.clone()),
            Lend::Busy,
            "a queue with messages is not lent"
        );
        assert_eq!(queued(&outbox), [&b"waiting"[..]]);
        assert_eq!(outbox.lend(|| sink.clone()), Lend::Lent);
        assert!(outbox.reclaim().is_none());
        outbox.push(Bytes::from_static(b"after")).expect("open");
        assert!(
            written(&recorder).is_empty(),
            "the task has its socket back"
        );
        assert_eq!(queued(&outbox), [&b"after"[..]]);
        assert_eq!(
            Arc::strong_count(&recorder),
            2,
            "the outbox let go of the socket"
        );
    }

    #[test]
    fn a_closed_queue_is_not_lent() {
        let outbox = Outbox::new(Protocol::Json, 1 << 20);
        let sink: Arc<dyn DirectSink> = Arc::new(Recorder::default());
        outbox.close(DisconnectCode::SHUTDOWN.into());
        assert_eq!(outbox.lend(|| sink), Lend::Busy);
    }

    #[test]
    fn a_paced_delivery_ends_the_loan_and_no_loan_is_made_until_a_direct_one() {
        let (outbox, recorder) = lent(Vec::new());
        let sink: Arc<dyn DirectSink> = recorder.clone();
        outbox
            .push_paced(Bytes::from_static(b"queued"), false)
            .expect("open");
        assert!(written(&recorder).is_empty(), "a paced delivery queues");
        assert!(outbox.reclaim().is_none());
        assert_eq!(queued(&outbox), [&b"queued"[..]]);
        assert_eq!(outbox.lend(|| sink.clone()), Lend::NotNow);
        // The channel slows down: its next delivery may go direct, and the socket is lent
        // again once the writer is idle.
        outbox
            .push_paced(Bytes::from_static(b"slow"), true)
            .expect("open");
        assert_eq!(queued(&outbox), [&b"slow"[..]]);
        assert_eq!(outbox.lend(|| sink), Lend::Lent);
        outbox.push(Bytes::from_static(b"direct")).expect("open");
        assert_eq!(written(&recorder), [&b"direct"[..]]);
    }
}
