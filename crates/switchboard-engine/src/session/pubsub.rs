//! PUBLISH, SUBSCRIBE and UNSUBSCRIBE.

use super::*;

impl Session {
    pub(super) fn publish(&mut self, mut m: Publish) {
        let Some(joined) = self.joined.as_ref() else {
            return;
        };
        let ack = m.options.acknowledge() == Some(true);
        let refuse = |error: ErrorUri, message: String| {
            if ack {
                self.error(MessageType::Publish, m.request, error, message);
            }
        };
        if let Err(e) = Uri::parse(&m.topic, self.router.config.uri_rules) {
            return refuse(
                ErrorUri::InvalidUri,
                format!("invalid topic {:?}: {e}", m.topic),
            );
        }
        if m.topic.starts_with("wamp.") {
            return refuse(
                ErrorUri::NotAuthorized,
                "topics under wamp. are reserved for the router".into(),
            );
        }
        match self.authorize(Action::Publish, &m.topic) {
            Authorization::Deny => {
                return refuse(
                    ErrorUri::NotAuthorized,
                    self.denial(Action::Publish, &m.topic),
                );
            }
            Authorization::Allow { disclose: true } => {
                m.options.insert("disclose_me".into(), Value::Bool(true));
            }
            Authorization::Allow { disclose: false } => {}
        }
        let publication = joined.realm.broker.publish(
            &Publication::from_message(&m, &joined.peer),
            || self.router.timestamp(),
            self.router.config.slow_consumer,
            self.router.stats(),
        );
        if ack {
            self.reply(&Message::Published(Published {
                request: m.request,
                publication,
            }));
        }
    }

    pub(super) fn subscribe(&mut self, m: Subscribe) {
        let policy = m
            .options
            .match_policy()
            .and_then(MatchPolicy::parse)
            .unwrap_or_default();
        let pattern = match Pattern::parse(&m.topic, policy, self.router.config.uri_rules) {
            Ok(p) => p,
            Err(e) => {
                return self.error(
                    MessageType::Subscribe,
                    m.request,
                    ErrorUri::InvalidUri,
                    format!(
                        "invalid topic {:?} for match {}: {e}",
                        m.topic,
                        policy.as_str()
                    ),
                );
            }
        };
        if !self.authorize(Action::Subscribe, &m.topic).is_allowed() {
            return self.not_authorized(
                MessageType::Subscribe,
                m.request,
                Action::Subscribe,
                &m.topic,
            );
        }
        if let (Some(max), Some(joined)) = (
            self.router.config.session_limits.max_subscriptions,
            self.joined.as_ref(),
        ) {
            let held = joined.subscriptions.len();
            let renewal = joined
                .realm
                .broker
                .lookup(&pattern)
                .is_some_and(|sub| joined.subscriptions.contains(&sub.id));
            if held >= max && !renewal {
                return self.limit_exceeded(
                    MessageType::Subscribe,
                    m.request,
                    "subscriptions",
                    "max_subscriptions_per_session",
                    held,
                );
            }
        }
        let (format, outbox) = (self.format, &self.outbox);
        let Some(joined) = self.joined.as_mut() else {
            return;
        };
        let request = m.request;
        let router = &self.router;
        let (id, created) = joined.realm.broker.subscribe(
            &joined.peer,
            pattern,
            || router.timestamp(),
            |subscription| {
                let reply = Message::Subscribed(Subscribed {
                    request,
                    subscription,
                });
                if let Ok(frame) = encode(&reply, format)
                    && outbox.push(frame).is_err()
                {
                    outbox.kill(crate::outbox::KillReason::SlowConsumer);
                }
            },
        );
        joined.subscriptions.insert(id);
        let (realm, session) = (&joined.realm, joined.peer.id());
        if created && let Some(sub) = realm.broker.get(id) {
            meta::event(
                router,
                realm,
                "wamp.subscription.on_create",
                vec![session.into(), Value::Dict(sub.details())],
            );
        }
        meta::event(
            router,
            realm,
            "wamp.subscription.on_subscribe",
            vec![session.into(), id.into()],
        );
        if m.options.get_retained() == Some(true) {
            realm.broker.send_retained(
                &joined.peer,
                id,
                router.config.slow_consumer,
                router.stats(),
            );
        }
    }

    pub(super) fn unsubscribe(&mut self, m: Unsubscribe) {
        let Some(known) = self
            .joined
            .as_mut()
            .map(|j| j.subscriptions.remove(&m.subscription))
        else {
            return;
        };
        let Some(joined) = self.joined.as_ref() else {
            return;
        };
        let removed = known
            .then(|| {
                joined
                    .realm
                    .broker
                    .unsubscribe(joined.peer.id(), m.subscription)
                    .ok()
            })
            .flatten();
        if let Some(deleted) = removed {
            self.reply(&Message::Unsubscribed(Unsubscribed {
                request: Some(m.request),
                details: None,
            }));
            meta::subscription_removed(
                &self.router,
                &joined.realm,
                joined.peer.id(),
                m.subscription,
                deleted,
            );
        } else {
            self.error(
                MessageType::Unsubscribe,
                m.request,
                ErrorUri::NoSuchSubscription,
                format!("this session has no subscription {}", m.subscription),
            );
        }
    }
}
