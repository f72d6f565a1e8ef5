//! The body of a receiving SockJS response (xhr, xhr_streaming, eventsource, htmlfile, jsonp):
//! a stream that writes the prelude, then each frame wrapped for the transport, and ends after one
//! frame for polling transports, after `response_limit` bytes for streaming ones, or after a close
//! frame. Dropped before that (the client went away), it reports the receiver as interrupted.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use stompbox_sockjs::{Detach, ReceiverId, Transport};

use super::registry::{Registry, SockSession};
use crate::pump::now;

struct Receiver {
    registry: Arc<Registry>,
    session: Arc<SockSession>,
    id: ReceiverId,
    transport: Transport,
    callback: String,
    prelude: Option<String>,
    sent: usize,
    limit: usize,
    finished: bool,
}

impl Receiver {
    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.registry.detach(&self.session, self.id, Detach::Done);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            self.registry
                .detach(&self.session, self.id, Detach::Interrupted);
        }
    }
}

/// The response body for an attached receiver.
pub(crate) fn body(
    registry: Arc<Registry>,
    session: Arc<SockSession>,
    id: ReceiverId,
    transport: Transport,
    callback: String,
    limit: usize,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let prelude = transport.prelude(&callback);
    let receiver = Receiver {
        registry,
        session,
        id,
        transport,
        callback,
        prelude,
        sent: 0,
        limit,
        finished: false,
    };
    futures_util::stream::unfold(receiver, next_chunk)
}

async fn next_chunk(mut r: Receiver) -> Option<(Result<Bytes, Infallible>, Receiver)> {
    if r.finished {
        return None;
    }
    if let Some(prelude) = r.prelude.take() {
        return Some((Ok(Bytes::from(prelude)), r));
    }
    loop {
        let outbox = r.session.outbox.clone();
        let notified = outbox.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(frame) = r.session.poll(r.id, now()) {
            let chunk = r.transport.wrap(&frame, &r.callback);
            r.sent += chunk.len();
            let closing = frame.starts_with('c');
            if !r.transport.is_streaming() || closing || r.sent >= r.limit {
                r.finish();
            }
            r.registry.reschedule(&r.session);
            return Some((Ok(Bytes::from(chunk)), r));
        }
        r.registry.reschedule(&r.session);
        notified.await;
    }
}
