//! Publish and subscribe: events, subscriptions and event streams.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;
use switchboard_proto::options::EventDetails;
use switchboard_proto::{Dict, Id, Value};
use tokio::sync::mpsc;

use crate::convert::{ConvertError, from_value};
use crate::driver::{Command, Control};
use crate::error::UnsubscribeError;
use crate::rpc::{decode_arg, decode_kwarg, decode_payload};
use crate::session::Shared;

/// An event received on a subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The subscription it arrived on.
    pub subscription: Id,
    /// The publication id (the same for every receiver of one publication).
    pub publication: Id,
    /// The topic it was published to: `EVENT.Details.topic` for pattern-based subscriptions,
    /// else the subscribed topic.
    pub topic: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
    /// `EVENT.Details`.
    pub details: EventDetails,
}

impl Event {
    /// Decodes the payload as one value, with the same convention as
    /// [`CallResult::decode`](crate::CallResult::decode).
    ///
    /// # Errors
    ///
    /// When the payload does not have the shape of `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        decode_payload(&self.args, &self.kwargs)
    }

    /// Decodes all positional arguments as one list (a tuple or `Vec`).
    ///
    /// # Errors
    ///
    /// When they do not have the shape of `T`.
    pub fn args_as<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        from_value(Value::List(self.args.clone()))
    }

    /// Decodes positional argument `index`.
    ///
    /// # Errors
    ///
    /// When it is missing or does not have the shape of `T`.
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, ConvertError> {
        decode_arg(&self.args, index)
    }

    /// Decodes the keyword arguments as one dict (a struct or map).
    ///
    /// # Errors
    ///
    /// When they do not have the shape of `T`.
    pub fn kwargs_as<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        from_value(Value::Dict(self.kwargs.clone()))
    }

    /// Decodes keyword argument `key`, `None` when absent.
    ///
    /// # Errors
    ///
    /// When it does not have the shape of `T`.
    pub fn kwarg<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConvertError> {
        decode_kwarg(&self.kwargs, key)
    }

    /// The publisher's session id, when the router disclosed it.
    pub fn publisher(&self) -> Option<Id> {
        self.details.publisher()
    }

    /// Whether this is a retained event sent because of `get_retained`.
    pub fn is_retained(&self) -> bool {
        self.details.retained() == Some(true)
    }
}

/// A boxed event-handler future.
pub(crate) type EventFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A subscription's event handler, type-erased.
pub(crate) type EventHandlerFn = Arc<dyn Fn(Event) -> EventFuture + Send + Sync + 'static>;

/// Boxes an async event handler.
pub(crate) fn event_handler_fn<F, Fut>(f: F) -> EventHandlerFn
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |ev| Box::pin(f(ev)))
}

/// Runs a handler over a subscription's events, one at a time and in order.
pub(crate) async fn run_event_handler(
    handler: EventHandlerFn,
    mut rx: mpsc::UnboundedReceiver<Event>,
) {
    while let Some(event) = rx.recv().await {
        handler(event).await;
    }
}

/// A subscription. Dropping the handle keeps the subscription (for handler subscriptions);
/// call [`unsubscribe`](Self::unsubscribe) to remove it (it also ends with the session).
///
/// Several local subscriptions to the same topic share the router's subscription (and its
/// id); the router subscription is removed when the last of them unsubscribes.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub(crate) id: Id,
    pub(crate) topic: String,
    pub(crate) sink: u64,
    pub(crate) shared: Arc<Shared>,
}

impl Subscription {
    /// The subscription id the router assigned.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The topic (or pattern) subscribed to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Removes this subscription.
    ///
    /// # Errors
    ///
    /// [`UnsubscribeError`].
    pub async fn unsubscribe(self) -> Result<(), UnsubscribeError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared
            .send(Command::Unsubscribe {
                subscription: self.id,
                sink: self.sink,
                reply: Some(tx),
            })
            .await?;
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.shared.gone().into()),
        }
    }
}

/// Events of a subscription made with
/// [`Session::subscribe_stream`](crate::Session::subscribe_stream), as a `Stream`.
///
/// The stream ends when the subscription ends (unsubscribed, revoked, or the session closed).
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct EventStream {
    pub(crate) subscription: Subscription,
    pub(crate) rx: mpsc::UnboundedReceiver<Event>,
    pub(crate) active: bool,
}

impl EventStream {
    /// The subscription.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// Unsubscribes and ends the stream.
    ///
    /// # Errors
    ///
    /// [`UnsubscribeError`].
    pub async fn unsubscribe(mut self) -> Result<(), UnsubscribeError> {
        self.active = false;
        self.subscription.clone().unsubscribe().await
    }
}

impl Stream for EventStream {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if self.active {
            let _ = self.subscription.shared.ctl.send(Control::Unsubscribe {
                subscription: self.subscription.id,
                sink: self.subscription.sink,
            });
        }
    }
}
