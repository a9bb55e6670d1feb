//! REGISTER, UNREGISTER and CALL.

use super::*;

impl Session {
    pub(super) fn register(&mut self, m: Register) {
        let policy = m
            .options
            .match_policy()
            .and_then(MatchPolicy::parse)
            .unwrap_or_default();
        let invoke = m
            .options
            .invoke()
            .and_then(InvokePolicy::parse)
            .unwrap_or_default();
        let pattern = match Pattern::parse(&m.procedure, policy, self.router.config.uri_rules) {
            Ok(p) => p,
            Err(e) => {
                return self.error(
                    MessageType::Register,
                    m.request,
                    ErrorUri::InvalidUri,
                    format!(
                        "invalid procedure {:?} for match {}: {e}",
                        m.procedure,
                        policy.as_str()
                    ),
                );
            }
        };
        if m.procedure.starts_with("wamp.") {
            return self.error(
                MessageType::Register,
                m.request,
                ErrorUri::NotAuthorized,
                "procedures under wamp. are reserved for the router".into(),
            );
        }
        if !self.authorize(Action::Register, &m.procedure).is_allowed() {
            return self.not_authorized(
                MessageType::Register,
                m.request,
                Action::Register,
                &m.procedure,
            );
        }
        if let (Some(max), Some(joined)) = (
            self.router.config.session_limits.max_registrations,
            self.joined.as_ref(),
        ) && joined.registrations.len() >= max
        {
            let held = joined.registrations.len();
            return self.limit_exceeded(
                MessageType::Register,
                m.request,
                "registrations",
                "max_registrations_per_session",
                held,
            );
        }
        let options = RegistrationOptions {
            disclose_caller: m.options.disclose_caller() == Some(true),
            forward_timeout: m.options.forward_timeout() == Some(true),
            concurrency: m
                .options
                .concurrency()
                .filter(|n| *n > 0)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        };
        let (format, outbox) = (self.format, &self.outbox);
        let Some(joined) = self.joined.as_mut() else {
            return;
        };
        let request = m.request;
        let result = joined.realm.dealer.register(
            &joined.peer,
            pattern,
            invoke,
            options,
            || self.router.timestamp(),
            |registration| {
                let reply = Message::Registered(Registered {
                    request,
                    registration,
                });
                if let Ok(frame) = encode(&reply, format)
                    && outbox.push(frame).is_err()
                {
                    outbox.kill(crate::outbox::KillReason::SlowConsumer);
                }
            },
        );
        match result {
            Ok((id, created)) => {
                joined.registrations.insert(id);
                let (router, realm, session) = (&self.router, &joined.realm, joined.peer.id());
                if created && let Some(reg) = realm.dealer.get(id) {
                    meta::event(
                        router,
                        realm,
                        "wamp.registration.on_create",
                        vec![session.into(), Value::Dict(reg.details())],
                    );
                }
                meta::event(
                    router,
                    realm,
                    "wamp.registration.on_register",
                    vec![session.into(), id.into()],
                );
            }
            Err(RegisterError::AlreadyExists) => self.error(
                MessageType::Register,
                m.request,
                ErrorUri::ProcedureAlreadyExists,
                format!("{:?} is already registered", m.procedure),
            ),
        }
    }

    pub(super) fn unregister(&mut self, m: Unregister) {
        let Some(known) = self
            .joined
            .as_mut()
            .map(|j| j.registrations.remove(&m.registration))
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
                    .dealer
                    .unregister(joined.peer.id(), m.registration)
                    .ok()
            })
            .flatten();
        if let Some(deleted) = removed {
            self.reply(&Message::Unregistered(Unregistered {
                request: Some(m.request),
                details: None,
            }));
            meta::registration_removed(
                &self.router,
                &joined.realm,
                joined.peer.id(),
                m.registration,
                deleted,
            );
        } else {
            self.error(
                MessageType::Unregister,
                m.request,
                ErrorUri::NoSuchRegistration,
                format!("this session has no registration {}", m.registration),
            );
        }
    }

    pub(super) fn call(&mut self, mut m: Call) -> Flow {
        let Some(joined) = self.joined.as_ref() else {
            return Flow::Continue;
        };
        if let Err(e) = Uri::parse(&m.procedure, self.router.config.uri_rules) {
            self.error(
                MessageType::Call,
                m.request,
                ErrorUri::InvalidUri,
                format!("invalid procedure {:?}: {e}", m.procedure),
            );
            return Flow::Continue;
        }
        match self.authorize(Action::Call, &m.procedure) {
            Authorization::Deny => {
                self.not_authorized(MessageType::Call, m.request, Action::Call, &m.procedure);
                return Flow::Continue;
            }
            Authorization::Allow { disclose: true } => {
                m.options.insert("disclose_me".into(), Value::Bool(true));
            }
            Authorization::Allow { disclose: false } => {}
        }
        // A testament is a publication made later on the session's behalf: it needs the
        // right to publish to its topic now.
        if m.procedure == "wamp.session.add_testament"
            && let Ok(values) = m.payload.to_values()
            && let Some(topic) = values.args.first().and_then(Value::as_str)
            && !self.authorize(Action::Publish, topic).is_allowed()
        {
            self.not_authorized(MessageType::Call, m.request, Action::Publish, topic);
            return Flow::Continue;
        }
        if let Some(max) = self.router.config.session_limits.max_pending_calls
            && !m.procedure.starts_with("wamp.")
        {
            let pending = joined.peer.calls.lock().len() + joined.peer.queued.lock().len();
            if pending >= max {
                self.limit_exceeded(
                    MessageType::Call,
                    m.request,
                    "calls waiting for a result",
                    "max_pending_calls_per_session",
                    pending,
                );
                return Flow::Continue;
            }
        }
        if m.procedure.starts_with("wamp.") {
            let reply = match meta::call(
                &self.router,
                &joined.realm,
                &joined.peer,
                &m.procedure,
                &m.payload,
            ) {
                Some(Ok(payload)) => Message::Result(CallResult {
                    request: m.request,
                    details: Default::default(),
                    payload,
                }),
                Some(Err(meta::MetaError(uri, message))) => {
                    dealer::call_error(m.request, &uri, Some(message))
                }
                None => dealer::call_error(
                    m.request,
                    ErrorUri::NoSuchProcedure.as_str(),
                    Some(format!("no meta procedure {:?}", m.procedure)),
                ),
            };
            self.reply(&reply);
            return Flow::Continue;
        }
        dealer::call(&self.router, &joined.realm, &joined.peer, m);
        Flow::Continue
    }
}
