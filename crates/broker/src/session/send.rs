//! SEND handling: transactions' buffering, routing, and `/app/…` application handlers.

use bytes::Bytes;
use stompbox_stomp::{Frame, Header};

use super::{Session, required};
use crate::acl::Action;
use crate::app::{AppAction, AppReply, AppRequest};
use crate::error::clip;
use crate::{BrokerError, Destination, StoreTicket, Use};

impl Session {
    pub(super) fn buffer_in_transaction(
        &mut self,
        frame: Frame,
    ) -> Result<Option<Frame>, BrokerError> {
        let Some(id) = frame.header("transaction") else {
            return Ok(Some(frame));
        };
        let Some(buffered) = self.transactions.get_mut(id) else {
            return Err(BrokerError::UnknownTransaction {
                command: frame.command,
                id: clip(id),
            });
        };
        buffered.push(frame);
        Ok(None)
    }

    /// Routes or buffers a SEND. Returns `true` when its RECEIPT was handed to a shared queue's
    /// store (sent once the message is kept) rather than owed now.
    pub(super) fn on_send(
        &mut self,
        frame: Frame,
        receipt: Option<&str>,
    ) -> Result<bool, BrokerError> {
        let destination = required(&frame, "destination")?;
        if self.access.is_some() {
            // Checked as it arrives, also inside a transaction; only well-formed names.
            Destination::parse(destination, Use::Send)?;
            self.authorize(Action::Send, destination)?;
        }
        let Some(frame) = self.buffer_in_transaction(frame)? else {
            return Ok(false);
        };
        // Only a queue SEND can be handed to a shared store (topics never need a ticket).
        let queue = frame
            .header("destination")
            .is_some_and(|d| d.starts_with("/queue/"));
        let mut ticket = queue.then(|| StoreTicket {
            broker: self.broker.clone(),
            session: self.id.clone(),
            outbox: self.outbox.clone(),
            version: self.version,
            receipt: receipt.map(str::to_string),
        });
        self.send_now(frame, &mut ticket)?;
        Ok(queue && receipt.is_some() && ticket.is_none())
    }

    /// Routes a SEND; a shared queue's store takes `ticket` (see [`crate::SharedQueues`]).
    pub(super) fn send_now(
        &mut self,
        frame: Frame,
        ticket: &mut Option<StoreTicket>,
    ) -> Result<(), BrokerError> {
        let destination = required(&frame, "destination")?.to_string();
        let headers: Vec<_> = frame
            .headers
            .into_iter()
            .filter(|(n, _)| {
                !matches!(
                    n.as_str(),
                    "destination" | "transaction" | "receipt" | "content-length"
                )
            })
            .collect();
        if let Destination::App(path) = Destination::parse(&destination, Use::Send)? {
            return self.on_app(path, &headers, &frame.body);
        }
        self.broker.route_send(
            &destination,
            headers,
            frame.body,
            None,
            &mut self.congested,
            ticket,
        )
    }

    fn on_app(&mut self, path: &str, headers: &[Header], body: &Bytes) -> Result<(), BrokerError> {
        let handler = self.broker.inner.apps.read().get(path).cloned();
        let handler =
            handler.ok_or_else(|| BrokerError::NoAppHandler(clip(&format!("/app{path}"))))?;
        let mut reply = AppReply::default();
        handler
            .handle(
                &AppRequest {
                    path,
                    headers,
                    body,
                    session_id: &self.id,
                    user: self.user.as_deref(),
                },
                &mut reply,
            )
            .map_err(BrokerError::App)?;
        for action in reply.actions {
            match action {
                AppAction::Publish {
                    destination,
                    headers,
                    body,
                } => self.broker.route_send(
                    &destination,
                    headers,
                    body,
                    None,
                    &mut self.congested,
                    &mut None,
                )?,
                AppAction::Reply {
                    destination,
                    headers,
                    body,
                } => {
                    let own = format!("/user{destination}");
                    let Destination::UserSelf(rest) = Destination::parse(&own, Use::Subscribe)?
                    else {
                        return Err(BrokerError::App(format!(
                            "reply destination `{}` must look like /queue/name",
                            clip(&destination)
                        )));
                    };
                    let route = crate::router::FanoutRoute {
                        key: self.owner_key(rest),
                        anonymous: None,
                        delivered_as: format!("/user{rest}"),
                    };
                    self.broker
                        .fan_out(route, headers, body, Some(&self.id), &mut self.congested);
                }
            }
        }
        Ok(())
    }
}
