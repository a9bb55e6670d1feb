//! Joining: HELLO, the authenticator's CHALLENGE/AUTHENTICATE rounds, deferred (dynamic)
//! authentication, and WELCOME.

use super::*;

impl Session {
    /// The call a deferred authentication waits for, once: the owner must make it and hand
    /// the outcome to [`Session::resume_auth`]. `None` when nothing (new) waits.
    pub fn take_deferred_auth(&mut self) -> Option<DeferredCall> {
        self.deferred.as_mut().and_then(|d| d.call.take())
    }

    /// The outcome of the call from [`Session::take_deferred_auth`]: the handshake goes on
    /// (WELCOME, ABORT, or another CHALLENGE or deferred call). Ignored when the session no
    /// longer waits for it (e.g. the client aborted).
    pub fn resume_auth(&mut self, result: Result<DeferredReply, DeferredError>) -> Flow {
        if self.state != State::Deferred {
            return if self.state == State::Closed {
                Flow::Close
            } else {
                Flow::Continue
            };
        }
        let Some(Deferring {
            realm,
            roles,
            session,
            pending,
            ..
        }) = self.deferred.take()
        else {
            return self.protocol_violation("no deferred authentication");
        };
        let decision = pending.resume(result);
        self.decide(decision, realm, roles, session)
    }

    pub(super) fn hello(&mut self, hello: Hello) -> Flow {
        if self.router.is_shutting_down() {
            return self.abort(
                CloseReason::SystemShutdown.as_str(),
                "the router is shutting down",
            );
        }
        if Uri::parse(&hello.realm, self.router.config.uri_rules).is_err() {
            return self.abort(
                ErrorUri::InvalidUri.as_str(),
                &format!("invalid realm URI {:?}", hello.realm),
            );
        }
        let roles = hello
            .details
            .roles()
            .map(ClientRoles::from_hello)
            .unwrap_or_default();
        if roles.is_empty() {
            return self.protocol_violation("HELLO.Details.roles must announce at least one role");
        }
        let Some(realm) = self.router.realm_for_hello(&hello.realm) else {
            return self.abort(
                ErrorUri::NoSuchRealm.as_str(),
                &format!("no realm {:?} on this router", hello.realm),
            );
        };
        let session = self.router.fresh_session_id();
        let no_extra = Dict::new();
        let authextra = hello.details.authextra().unwrap_or(&no_extra);
        let request = HelloRequest::new(
            &hello.realm,
            session,
            &hello.details,
            authextra,
            &self.transport,
            self.router.clock().unix_millis(),
        );
        let decision = if self.trusted {
            AuthDecision::Welcome(AuthOutcome {
                authid: hello.details.authid().unwrap_or(TRUSTED).to_owned(),
                authrole: TRUSTED.to_owned(),
                authmethod: TRUSTED.to_owned(),
                authprovider: "router".to_owned(),
                authextra: Dict::new(),
            })
        } else {
            realm.security.authenticator.hello(&request)
        };
        self.decide(decision, realm, roles, session)
    }

    /// AUTHENTICATE answering our CHALLENGE.
    pub(super) fn authenticate(&mut self, m: Authenticate) -> Flow {
        let Some(auth) = self.authenticating.take() else {
            return self.protocol_violation("AUTHENTICATE without a CHALLENGE");
        };
        let Authenticating {
            realm,
            roles,
            session,
            pending,
        } = auth;
        let decision = pending.authenticate(&m);
        self.decide(decision, realm, roles, session)
    }

    /// Acts on an authenticator's decision: WELCOME, CHALLENGE or ABORT.
    pub(super) fn decide(
        &mut self,
        decision: AuthDecision,
        realm: Arc<Realm>,
        roles: ClientRoles,
        session: Id,
    ) -> Flow {
        match decision {
            AuthDecision::Welcome(outcome) => self.welcome(realm, roles, session, outcome),
            AuthDecision::Challenge {
                method,
                extra,
                pending,
            } => {
                self.reply(&Message::Challenge(Challenge { method, extra }));
                self.authenticating = Some(Authenticating {
                    realm,
                    roles,
                    session,
                    pending,
                });
                self.state = State::Challenging;
                Flow::Continue
            }
            AuthDecision::Defer { call, pending } => {
                self.deferred = Some(Deferring {
                    realm,
                    roles,
                    session,
                    call: Some(call),
                    pending,
                });
                self.state = State::Deferred;
                Flow::Continue
            }
            AuthDecision::Abort(abort) => {
                tracing::info!(realm = %realm.name, reason = %abort.reason, "login refused: {}", abort.message);
                self.abort(&abort.reason, &abort.message)
            }
        }
    }

    /// Joins the realm as `outcome` says and sends WELCOME.
    pub(super) fn welcome(
        &mut self,
        realm: Arc<Realm>,
        roles: ClientRoles,
        session: Id,
        outcome: AuthOutcome,
    ) -> Flow {
        if self.router.is_shutting_down() {
            return self.abort(
                CloseReason::SystemShutdown.as_str(),
                "the router is shutting down",
            );
        }
        if let Some(max) = self.router.config.session_limits.max_sessions_per_authid
            && !self.trusted
        {
            let open = realm
                .sessions()
                .iter()
                .filter(|p| *p.identity.authid == *outcome.authid)
                .count();
            if open >= max {
                tracing::info!(realm = %realm.name, authid = %outcome.authid, "login refused: max_sessions_per_authid ({max}) reached");
                return self.abort(
                    ErrorUri::NotAuthorized.as_str(),
                    &format!(
                        "authid {:?} already has {open} sessions on realm {:?} (the limit is {max})",
                        outcome.authid, realm.name
                    ),
                );
            }
        }
        let (format, max, outbox) = (self.format, self.max_message_size, Arc::clone(&self.outbox));
        let transport = self.transport.clone();
        let authid: Arc<str> = if outcome.authid.is_empty() {
            Arc::from(session.to_string())
        } else {
            Arc::from(outcome.authid.as_str())
        };
        let authrole: Arc<str> = Arc::from(outcome.authrole.as_str());
        let authmethod: Arc<str> = Arc::from(outcome.authmethod.as_str());
        let authprovider: Arc<str> = Arc::from(outcome.authprovider.as_str());
        let peer = self.router.add_session_as(session, |session| {
            let identity = Identity {
                session,
                realm: Arc::clone(&realm.name),
                authid: Arc::clone(&authid),
                authrole: Arc::clone(&authrole),
                authmethod: Arc::clone(&authmethod),
                authprovider: Arc::clone(&authprovider),
            };
            Arc::new(Peer::new(
                identity,
                format,
                max,
                roles,
                transport.clone(),
                Arc::clone(&outbox),
            ))
        });
        let who = &peer.identity;
        let mut details = WelcomeDetails::default()
            .with("roles", Value::Dict(features::router_roles()))
            .with("agent", self.router.config.agent.as_str())
            .with("authid", &*who.authid)
            .with("authrole", &*who.authrole)
            .with("authmethod", &*who.authmethod)
            .with("authprovider", &*who.authprovider);
        if !outcome.authextra.is_empty() {
            details = details.with("authextra", Value::Dict(outcome.authextra));
        }
        self.reply(&Message::Welcome(Welcome {
            session: peer.id(),
            details,
        }));
        realm.join(&peer);
        meta::event(
            &self.router,
            &realm,
            "wamp.session.on_join",
            vec![Value::Dict(meta::session_details(&peer))],
        );
        tracing::debug!(session = %peer.id(), realm = %realm.name, authid = %peer.identity.authid, authrole = %peer.identity.authrole, "session joined");
        let request_ids = if self.router.config.strict_request_ids {
            RequestIdChecker::strict()
        } else {
            RequestIdChecker::lenient()
        };
        self.joined = Some(Joined {
            peer,
            realm,
            subscriptions: HashSet::new(),
            registrations: HashSet::new(),
            request_ids,
            streamed_calls: false,
        });
        self.state = State::Established;
        Flow::Continue
    }
}
