//! Access checks: the realm's authorizer (static rules, or a dynamic authorizer whose answer
//! parks the message), and per-session limits.

use super::*;

impl Session {
    /// The call the dynamic authorizer needs before a parked message can go on, once: the
    /// owner must make it and hand the outcome to [`Session::resume_authz`]. While a message is
    /// parked the owner should feed no more frames (those it does feed wait behind it).
    pub fn take_deferred_authz(&mut self) -> Option<DeferredCall> {
        self.parked.as_mut().and_then(|p| p.call.take())
    }

    /// Whether a message waits for the dynamic authorizer.
    pub fn is_parked(&self) -> bool {
        self.parked.is_some()
    }

    /// The outcome of the call from [`Session::take_deferred_authz`]: the parked message is
    /// executed or refused (ERROR `wamp.error.not_authorized`, or
    /// `wamp.error.authorization_failed` when the call failed; nothing for an unacknowledged
    /// PUBLISH), then the messages that waited behind it are handled (one of them may park
    /// again). Ignored when nothing is parked.
    pub fn resume_authz(&mut self, result: Result<DeferredReply, DeferredError>) -> Flow {
        let Some(Parked {
            msg, action, uri, ..
        }) = self.parked.take()
        else {
            return if self.state == State::Closed {
                Flow::Close
            } else {
                Flow::Continue
            };
        };
        if self.state != State::Established {
            self.backlog.clear();
            return if self.state == State::Closed {
                Flow::Close
            } else {
                Flow::Continue
            };
        }
        let Some(joined) = self.joined.as_ref() else {
            return self.protocol_violation("no session");
        };
        let now = self.router.clock().now();
        let answer = joined.realm.security.authorizer.answer(
            &joined.peer.identity,
            action,
            &uri,
            now,
            result,
        );
        match answer {
            Ok(decision) => {
                self.decided = Some((action, uri, decision));
                let flow = self.dispatch(msg);
                self.decided = None;
                if flow == Flow::Close {
                    return Flow::Close;
                }
            }
            Err(why) => {
                tracing::info!(session = ?self.id(), "authorization of {action} {uri:?} failed: {why}");
                self.authorization_failed(&msg, why);
            }
        }
        while self.parked.is_none()
            && let Some(msg) = self.backlog.pop_front()
        {
            if self.handle(msg) == Flow::Close {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    /// ERROR `wamp.error.authorization_failed` for a parked message.
    pub(super) fn authorization_failed(&self, msg: &Message, why: String) {
        let (request_type, request) = match msg {
            Message::Call(m) => (MessageType::Call, m.request),
            Message::Register(m) => (MessageType::Register, m.request),
            Message::Subscribe(m) => (MessageType::Subscribe, m.request),
            Message::Publish(m) if m.options.acknowledge() == Some(true) => {
                (MessageType::Publish, m.request)
            }
            _ => return,
        };
        self.error(request_type, request, ErrorUri::AuthorizationFailed, why);
    }

    /// What the realm's authorizer says about this session doing `action` on `uri`.
    pub(super) fn authorize(&self, action: Action, uri: &str) -> Authorization {
        if self.trusted && self.joined.is_some() {
            return Authorization::Allow { disclose: false };
        }
        if let Some((a, u, decision)) = &self.decided
            && *a == action
            && u == uri
        {
            return *decision;
        }
        match self.joined.as_ref() {
            Some(j) => j
                .realm
                .security
                .authorizer
                .authorize(&j.peer.identity, action, uri),
            None => Authorization::Deny,
        }
    }

    /// ERROR `wamp.error.not_authorized` for `action` on `uri`.
    pub(super) fn not_authorized(
        &self,
        request_type: MessageType,
        request: Id,
        action: Action,
        uri: &str,
    ) {
        self.error(
            request_type,
            request,
            ErrorUri::NotAuthorized,
            self.denial(action, uri),
        );
    }

    pub(super) fn denial(&self, action: Action, uri: &str) -> String {
        let role = self
            .joined
            .as_ref()
            .map_or("", |j| &*j.peer.identity.authrole);
        format!("role {role:?} is not authorized to {action} {uri:?}")
    }

    /// ERROR [`LIMIT_EXCEEDED`] for a session holding `held` of `what` (the limit; `key` is the
    /// router config key that sets it).
    pub(super) fn limit_exceeded(
        &self,
        request_type: MessageType,
        request: Id,
        what: &str,
        key: &str,
        held: usize,
    ) {
        self.reply(&Message::Error(ErrorMessage {
            request_type,
            request,
            details: Default::default(),
            error: LIMIT_EXCEEDED.to_owned(),
            payload: Payload::args(vec![Value::from(format!(
                "this session already has {held} {what}, the most allowed (limits.{key})"
            ))]),
        }));
    }
}
