//! The opening handshake as a sans-IO state machine: HELLO out, then CHALLENGE/AUTHENTICATE
//! rounds until WELCOME or ABORT (wamp-spec §3.1, §7).
//!
//! [`Handshake::hello`] gives the HELLO to send; [`Handshake::handle`] takes each message the
//! router sends and says what to send back or that the session is established. No IO and no
//! clock here, so every authentication method is tested against scripted router messages.

use switchboard_proto::auth::{cra, cryptosign, scram};
use switchboard_proto::message::{Abort, Authenticate, Challenge, Hello, Message, Welcome};
use switchboard_proto::names::{Feature, Role};
use switchboard_proto::options::HelloDetails;
use switchboard_proto::uri::{Uri, UriRules};
use switchboard_proto::{Dict, Value};

use crate::error::{ApplicationError, ConnectError};
use crate::options::{Auth, ChallengeHandler, ConnectOptions};

/// Features this client announces per role in HELLO (wamp-spec §3.4): exactly the ones it
/// implements.
pub(crate) const CLIENT_FEATURES: &[(Role, &[Feature])] = &[
    (
        Role::Caller,
        &[
            Feature::ProgressiveCallResults,
            Feature::CallCanceling,
            Feature::CallTimeout,
            Feature::CallerIdentification,
        ],
    ),
    (
        Role::Callee,
        &[
            Feature::ProgressiveCallResults,
            Feature::CallCanceling,
            Feature::CallTimeout,
            Feature::CallerIdentification,
            Feature::PatternBasedRegistration,
            Feature::SharedRegistration,
            Feature::RegistrationRevocation,
        ],
    ),
    (
        Role::Publisher,
        &[
            Feature::PublisherExclusion,
            Feature::SubscriberBlackwhiteListing,
            Feature::PublisherIdentification,
        ],
    ),
    (
        Role::Subscriber,
        &[
            Feature::PatternBasedSubscription,
            Feature::PublisherIdentification,
            Feature::SubscriptionRevocation,
        ],
    ),
];

/// `HELLO.Details.roles`.
pub(crate) fn client_roles() -> Dict {
    CLIENT_FEATURES
        .iter()
        .map(|(role, features)| {
            let flags: Dict = features
                .iter()
                .map(|f| (f.as_str().to_owned(), Value::Bool(true)))
                .collect();
            let mut role_dict = Dict::new();
            role_dict.insert("features".into(), Value::Dict(flags));
            (role.as_str().to_owned(), Value::Dict(role_dict))
        })
        .collect()
}

/// The authentication in progress.
enum Method {
    Anonymous,
    Ticket {
        authid: String,
        ticket: String,
    },
    Cra {
        authid: String,
        secret: String,
    },
    Scram {
        authid: String,
        client: scram::ScramClient,
        password: String,
        answered: Option<scram::ClientFinal>,
    },
    Cryptosign {
        authid: String,
        key: cryptosign::SigningKey,
    },
    Custom {
        authmethods: Vec<String>,
        authid: Option<String>,
        authextra: Dict,
        on_challenge: ChallengeHandler,
    },
}

/// What to do after a router message.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send this AUTHENTICATE and wait for the next message.
    Send(Message),
    /// The session is established.
    Established(Box<Welcome>),
}

/// One opening handshake.
pub(crate) struct Handshake {
    realm: String,
    agent: String,
    method: Method,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("realm", &self.realm)
            .field("authmethods", &self.authmethods())
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// Prepares a handshake; checks the realm and parses keys.
    pub(crate) fn new(options: &ConnectOptions) -> Result<Handshake, ConnectError> {
        Uri::parse(&options.realm, UriRules::Loose)
            .map_err(|e| ConnectError::InvalidOptions(format!("realm {:?}: {e}", options.realm)))?;
        let method = match &options.auth {
            Auth::Anonymous => Method::Anonymous,
            Auth::Ticket { authid, ticket } => Method::Ticket {
                authid: authid.clone(),
                ticket: ticket.clone(),
            },
            Auth::WampCra { authid, secret } => Method::Cra {
                authid: authid.clone(),
                secret: secret.clone(),
            },
            Auth::Scram { authid, password } => Method::Scram {
                authid: authid.clone(),
                client: scram::ScramClient::new(scram::Variant::Spec, authid.clone()),
                password: password.clone(),
                answered: None,
            },
            Auth::ScramAutobahn { authid, password } => Method::Scram {
                authid: authid.clone(),
                client: scram::ScramClient::new(scram::Variant::Autobahn, authid.clone()),
                password: password.clone(),
                answered: None,
            },
            Auth::Cryptosign {
                authid,
                private_key_hex,
            } => Method::Cryptosign {
                authid: authid.clone(),
                key: cryptosign::SigningKey::from_seed_hex(private_key_hex.trim()).map_err(
                    |e| ConnectError::InvalidOptions(format!("cryptosign private key: {e}")),
                )?,
            },
            Auth::Custom {
                authmethods,
                authid,
                authextra,
                on_challenge,
            } => Method::Custom {
                authmethods: authmethods.clone(),
                authid: authid.clone(),
                authextra: authextra.clone(),
                on_challenge: on_challenge.clone(),
            },
        };
        Ok(Handshake {
            realm: options.realm.clone(),
            agent: options.agent.clone(),
            method,
        })
    }

    /// Replaces the SCRAM client nonce (deterministic tests).
    #[cfg(test)]
    fn with_scram_nonce(mut self, nonce: &str) -> Handshake {
        if let Method::Scram { authid, client, .. } = &mut self.method {
            *client = scram::ScramClient::with_nonce(client.variant(), authid.clone(), nonce);
        }
        self
    }

    /// The `authmethods` offered.
    fn authmethods(&self) -> Vec<String> {
        match &self.method {
            Method::Anonymous => Vec::new(),
            Method::Ticket { .. } => vec![String::from("ticket")],
            Method::Cra { .. } => vec![cra::AUTHMETHOD.to_owned()],
            Method::Scram { client, .. } => vec![client.variant().authmethod().to_owned()],
            Method::Cryptosign { .. } => vec![cryptosign::AUTHMETHOD.to_owned()],
            Method::Custom { authmethods, .. } => authmethods.clone(),
        }
    }

    /// The HELLO to send first.
    pub(crate) fn hello(&self) -> Message {
        let mut details = HelloDetails::default()
            .with("roles", Value::Dict(client_roles()))
            .with("agent", self.agent.as_str());
        let methods = self.authmethods();
        if !methods.is_empty() {
            details = details.with(
                "authmethods",
                Value::List(methods.into_iter().map(Value::Str).collect()),
            );
        }
        let (authid, authextra): (Option<&str>, Option<Dict>) = match &self.method {
            Method::Anonymous => (None, None),
            Method::Ticket { authid, .. } | Method::Cra { authid, .. } => {
                (Some(authid.as_str()), None)
            }
            Method::Scram { authid, client, .. } => {
                let mut extra = Dict::new();
                extra.insert("nonce".into(), Value::from(client.nonce()));
                (Some(authid.as_str()), Some(extra))
            }
            Method::Cryptosign { authid, key } => {
                let mut extra = Dict::new();
                extra.insert("pubkey".into(), Value::from(key.public_key_hex()));
                (Some(authid.as_str()).filter(|a| !a.is_empty()), Some(extra))
            }
            Method::Custom {
                authid, authextra, ..
            } => (
                authid.as_deref(),
                Some(authextra.clone()).filter(|d| !d.is_empty()),
            ),
        };
        if let Some(authid) = authid {
            details = details.with("authid", authid);
        }
        if let Some(extra) = authextra {
            details = details.with("authextra", Value::Dict(extra));
        }
        Message::Hello(Hello {
            realm: self.realm.clone(),
            details,
        })
    }

    /// Handles a message from the router. CHALLENGE answers may run a slow KDF (SCRAM): call
    /// this off the async executor.
    pub(crate) fn handle(&mut self, msg: Message) -> Result<Step, ConnectError> {
        match msg {
            Message::Welcome(w) => {
                self.check_welcome(&w)?;
                Ok(Step::Established(Box::new(w)))
            }
            Message::Abort(a) => Err(ConnectError::Aborted(abort_error(a))),
            Message::Challenge(c) => self.answer(c).map(Step::Send),
            other => Err(ConnectError::ProtocolViolation(format!(
                "expected WELCOME, CHALLENGE or ABORT, got {}",
                other.message_type()
            ))),
        }
    }

    fn answer(&mut self, challenge: Challenge) -> Result<Message, ConnectError> {
        if !self.authmethods().contains(&challenge.method) {
            return Err(ConnectError::AuthMethodNotOffered(challenge.method));
        }
        let extra = &challenge.extra;
        let (signature, reply_extra) = match &mut self.method {
            Method::Anonymous => return Err(ConnectError::AuthMethodNotOffered(challenge.method)),
            Method::Ticket { ticket, .. } => (ticket.clone(), Dict::new()),
            Method::Cra { secret, .. } => {
                let text = str_field(extra, "challenge")?;
                let signature = match extra.get("salt").and_then(Value::as_str) {
                    Some(salt) => {
                        let iterations = uint_field(extra, "iterations")?
                            .unwrap_or(u64::from(cra::DEFAULT_ITERATIONS));
                        let keylen =
                            uint_field(extra, "keylen")?.unwrap_or(cra::DEFAULT_KEYLEN as u64);
                        let key = cra::derive_key(
                            secret.as_bytes(),
                            salt,
                            u32::try_from(iterations)
                                .map_err(|_| bad_challenge("wampcra iterations out of range"))?,
                            usize::try_from(keylen)
                                .map_err(|_| bad_challenge("wampcra keylen out of range"))?,
                        )?;
                        cra::sign(key.as_bytes(), text)
                    }
                    None => cra::sign(secret.as_bytes(), text),
                };
                (signature, Dict::new())
            }
            Method::Scram {
                client,
                password,
                answered,
                ..
            } => {
                let nonce = str_field(extra, "nonce")?;
                let salt = str_field(extra, "salt")?;
                let kdf = str_field(extra, "kdf")?;
                let iterations = uint_field(extra, "iterations")?
                    .ok_or_else(|| bad_challenge("missing iterations"))?;
                let memory = uint_field(extra, "memory")?;
                let params = scram::KdfParams::from_challenge(kdf, iterations, memory)?;
                let server_first = scram::ServerFirst {
                    nonce,
                    salt,
                    params,
                };
                let client_final =
                    client.respond(password, &server_first, None, &scram::KdfLimits::default())?;
                let signature = client_final.proof().to_owned();
                *answered = Some(client_final);
                let mut reply = Dict::new();
                reply.insert("nonce".into(), Value::from(nonce));
                reply.insert("channel_binding".into(), Value::Null);
                (signature, reply)
            }
            Method::Cryptosign { key, .. } => {
                if extra.get("channel_binding").is_some_and(|b| !b.is_null()) {
                    return Err(bad_challenge(
                        "the router uses channel binding, which this client did not request",
                    ));
                }
                let text = str_field(extra, "challenge")?;
                (key.sign_challenge(text, None)?, Dict::new())
            }
            Method::Custom { on_challenge, .. } => {
                on_challenge(&challenge.method, extra).map_err(ConnectError::ChallengeHandler)?
            }
        };
        Ok(Message::Authenticate(Authenticate {
            signature,
            extra: reply_extra,
        }))
    }

    /// SCRAM: checks the router's signature (mutual authentication).
    fn check_welcome(&self, welcome: &Welcome) -> Result<(), ConnectError> {
        if let Method::Scram {
            client,
            answered: Some(client_final),
            ..
        } = &self.method
        {
            let key = client.variant().verifier_key();
            let verifier = welcome
                .details
                .authextra()
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .ok_or(switchboard_proto::auth::AuthError::VerificationFailed)?;
            client_final.verify_server_signature(verifier)?;
        }
        Ok(())
    }
}

/// The ABORT as an [`ApplicationError`]: reason as URI, `Details.message` as the `message`
/// keyword argument (unless the payload carries its own).
pub(crate) fn abort_error(a: Abort) -> ApplicationError {
    let values = a.payload.to_values().unwrap_or_default();
    let mut e = ApplicationError {
        uri: a.reason,
        args: values.args,
        kwargs: values.kwargs,
    };
    if let Some(m) = a.details.message()
        && !e.kwargs.contains_key("message")
    {
        e.kwargs.insert("message".into(), Value::from(m));
    }
    e
}

fn bad_challenge(what: &str) -> ConnectError {
    ConnectError::ProtocolViolation(format!("malformed CHALLENGE: {what}"))
}

fn str_field<'a>(extra: &'a Dict, key: &str) -> Result<&'a str, ConnectError> {
    extra
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad_challenge(&format!("{key} must be a string")))
}

fn uint_field(extra: &Dict, key: &str) -> Result<Option<u64>, ConnectError> {
    match extra.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad_challenge(&format!("{key} must be a non-negative integer"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use switchboard_proto::dict;
    use switchboard_proto::options::WelcomeDetails;

    use super::*;
    use crate::Id;

    const CRA_CHALLENGE: &str = r#"{"nonce": "LHRTC9zeOIrt_9U3", "authprovider": "userdb", "authid": "peter", "timestamp": "2014-06-22T16:36:25.448Z", "authrole": "user", "authmethod": "wampcra", "session": 3251278072152162}"#;

    fn handshake(auth: Auth) -> Handshake {
        Handshake::new(&ConnectOptions {
            auth,
            ..ConnectOptions::default()
        })
        .unwrap()
    }

    fn hello_details(h: &Handshake) -> HelloDetails {
        match h.hello() {
            Message::Hello(hello) => {
                assert_eq!(hello.realm, "realm1");
                hello.details
            }
            other => panic!("not a HELLO: {other:?}"),
        }
    }

    fn challenge(method: &str, extra: Dict) -> Message {
        Message::Challenge(Challenge {
            method: method.into(),
            extra,
        })
    }

    fn authenticate(step: Step) -> Authenticate {
        match step {
            Step::Send(Message::Authenticate(a)) => a,
            other => panic!("expected AUTHENTICATE, got {other:?}"),
        }
    }

    fn welcome(authextra: Dict) -> Message {
        Message::Welcome(Welcome {
            session: Id::MIN,
            details: WelcomeDetails::default()
                .with("roles", dict! {"dealer" => dict!{}})
                .with("authextra", authextra),
        })
    }

    #[test]
    fn anonymous_hello_announces_roles_and_no_authmethods() {
        let h = handshake(Auth::Anonymous);
        let d = hello_details(&h);
        assert!(d.authmethods().is_none());
        let roles = d.roles().unwrap();
        for role in ["caller", "callee", "publisher", "subscriber"] {
            assert!(roles.contains_key(role), "{role}");
        }
        let caller = roles["caller"].as_dict().unwrap()["features"]
            .as_dict()
            .unwrap();
        assert_eq!(caller["call_canceling"], Value::Bool(true));
        assert!(d.agent().unwrap().starts_with("switchboard-client/"));
    }

    #[test]
    fn anonymous_handshake_accepts_welcome_and_refuses_challenge() {
        let mut h = handshake(Auth::Anonymous);
        assert!(matches!(
            h.handle(welcome(Dict::new())).unwrap(),
            Step::Established(_)
        ));
        let mut h = handshake(Auth::Anonymous);
        assert!(matches!(
            h.handle(challenge("ticket", Dict::new())),
            Err(ConnectError::AuthMethodNotOffered(m)) if m == "ticket"
        ));
    }

    #[test]
    fn ticket_is_sent_as_the_signature() {
        let mut h = handshake(Auth::Ticket {
            authid: "joe".into(),
            ticket: "secret!!!".into(),
        });
        let d = hello_details(&h);
        assert_eq!(d.authmethods(), Some(vec!["ticket"]));
        assert_eq!(d.authid(), Some("joe"));
        let a = authenticate(h.handle(challenge("ticket", Dict::new())).unwrap());
        assert_eq!(a.signature, "secret!!!");
        assert!(matches!(
            h.handle(welcome(Dict::new())).unwrap(),
            Step::Established(_)
        ));
    }

    #[test]
    fn wampcra_signs_the_challenge_verbatim() {
        let mut h = handshake(Auth::WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        });
        assert_eq!(hello_details(&h).authmethods(), Some(vec!["wampcra"]));
        let a = authenticate(
            h.handle(challenge("wampcra", dict! {"challenge" => CRA_CHALLENGE}))
                .unwrap(),
        );
        assert_eq!(a.signature, "oV95jyPM/GWJyAuKBOSsdFkUkSboj5T4NmC3bdefPuY=");
    }

    #[test]
    fn wampcra_uses_the_salted_key_when_the_challenge_has_a_salt() {
        let mut h = handshake(Auth::WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        });
        let a = authenticate(
            h.handle(challenge(
                "wampcra",
                dict! {"challenge" => CRA_CHALLENGE, "salt" => "salt123", "iterations" => 1000u64, "keylen" => 32u64},
            ))
            .unwrap(),
        );
        assert_eq!(a.signature, "GyMkfiASBnhHaSle2CWSCDji2nyPuyJDxEQDEDraOGY=");
        // Defaults (1000 iterations, 32 bytes) when the router leaves them out.
        let mut h = handshake(Auth::WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        });
        let a = authenticate(
            h.handle(challenge(
                "wampcra",
                dict! {"challenge" => CRA_CHALLENGE, "salt" => "salt123"},
            ))
            .unwrap(),
        );
        assert_eq!(a.signature, "GyMkfiASBnhHaSle2CWSCDji2nyPuyJDxEQDEDraOGY=");
    }

    #[test]
    fn wampcra_malformed_challenge_is_an_error_not_a_panic() {
        let mut h = handshake(Auth::WampCra {
            authid: "peter".into(),
            secret: "s".into(),
        });
        assert!(matches!(
            h.handle(challenge("wampcra", dict! {"challenge" => 5u64})),
            Err(ConnectError::ProtocolViolation(_))
        ));
        let mut h = handshake(Auth::WampCra {
            authid: "peter".into(),
            secret: "s".into(),
        });
        assert!(matches!(
            h.handle(challenge(
                "wampcra",
                dict! {"challenge" => "x", "salt" => "s", "keylen" => 1_000_000u64}
            )),
            Err(ConnectError::Authentication(_))
        ));
    }

    #[test]
    fn cryptosign_signs_the_spec_vector() {
        let mut h = handshake(Auth::Cryptosign {
            authid: String::new(),
            private_key_hex: "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"
                .into(),
        });
        let d = hello_details(&h);
        assert_eq!(d.authmethods(), Some(vec!["cryptosign"]));
        assert_eq!(d.authid(), None, "empty authid is left to the router");
        assert_eq!(
            d.authextra().unwrap()["pubkey"],
            Value::from("1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d")
        );
        let a = authenticate(
            h.handle(challenge(
                "cryptosign",
                dict! {"challenge" => "f".repeat(64), "channel_binding" => Value::Null},
            ))
            .unwrap(),
        );
        assert_eq!(
            a.signature,
            "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03"
                .to_owned()
                + &"f".repeat(64)
        );
    }

    #[test]
    fn cryptosign_refuses_unrequested_channel_binding_and_bad_keys() {
        let key = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
        let mut h = handshake(Auth::Cryptosign {
            authid: "alice".into(),
            private_key_hex: key.into(),
        });
        assert_eq!(hello_details(&h).authid(), Some("alice"));
        assert!(
            h.handle(challenge(
                "cryptosign",
                dict! {"challenge" => "f".repeat(64), "channel_binding" => "tls-unique"},
            ))
            .is_err()
        );
        let bad = Handshake::new(&ConnectOptions {
            auth: Auth::Cryptosign {
                authid: String::new(),
                private_key_hex: "zz".into(),
            },
            ..ConnectOptions::default()
        });
        assert!(matches!(bad, Err(ConnectError::InvalidOptions(_))));
    }

    fn scram_handshake() -> Handshake {
        handshake(Auth::Scram {
            authid: "user".into(),
            password: "pencil".into(),
        })
        .with_scram_nonce("rOprNGfwEbeRWgbNEkqO")
    }

    fn scram_challenge() -> Message {
        challenge(
            "wamp-scram",
            dict! {
                "nonce" => "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                "salt" => "W22ZaJ0SNY7soEsUEjb6gQ==",
                "kdf" => "pbkdf2",
                "iterations" => 4096u64,
                "memory" => Value::Null,
            },
        )
    }

    #[test]
    fn scram_answers_the_rfc7677_vector_and_verifies_the_router() {
        let mut h = scram_handshake();
        let d = hello_details(&h);
        assert_eq!(d.authmethods(), Some(vec!["wamp-scram"]));
        assert_eq!(d.authid(), Some("user"));
        assert_eq!(
            d.authextra().unwrap()["nonce"],
            Value::from("rOprNGfwEbeRWgbNEkqO")
        );
        let a = authenticate(h.handle(scram_challenge()).unwrap());
        assert_eq!(a.signature, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert_eq!(
            a.extra["nonce"],
            Value::from("rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        );
        let ok = welcome(dict! {"verifier" => "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="});
        assert!(matches!(h.handle(ok).unwrap(), Step::Established(_)));
    }

    #[test]
    fn scram_refuses_a_router_with_the_wrong_signature_or_none() {
        let mut h = scram_handshake();
        authenticate(h.handle(scram_challenge()).unwrap());
        let forged = welcome(dict! {"verifier" => "AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="});
        assert!(matches!(
            h.handle(forged),
            Err(ConnectError::Authentication(_))
        ));
        let mut h = scram_handshake();
        authenticate(h.handle(scram_challenge()).unwrap());
        assert!(h.handle(welcome(Dict::new())).is_err());
    }

    #[test]
    fn scram_refuses_a_nonce_that_does_not_extend_its_own_and_weak_parameters() {
        let mut h = scram_handshake();
        let c = challenge(
            "wamp-scram",
            dict! {"nonce" => "somebody-else", "salt" => "W22ZaJ0SNY7soEsUEjb6gQ==", "kdf" => "pbkdf2", "iterations" => 4096u64},
        );
        assert!(matches!(h.handle(c), Err(ConnectError::Authentication(_))));
        let mut h = scram_handshake();
        let c = challenge(
            "wamp-scram",
            dict! {"nonce" => "rOprNGfwEbeRWgbNEkqOxyz", "salt" => "W22ZaJ0SNY7soEsUEjb6gQ==", "kdf" => "pbkdf2", "iterations" => 1u64},
        );
        assert!(matches!(h.handle(c), Err(ConnectError::Authentication(_))));
    }

    #[test]
    fn abort_becomes_an_error_with_reason_and_message() {
        let mut h = handshake(Auth::Anonymous);
        let abort = Message::Abort(Abort {
            details: switchboard_proto::options::CloseDetails::default()
                .with("message", "no such realm"),
            reason: "wamp.error.no_such_realm".into(),
            payload: switchboard_proto::Payload::empty(),
        });
        match h.handle(abort) {
            Err(ConnectError::Aborted(e)) => {
                assert_eq!(e.uri, "wamp.error.no_such_realm");
                assert_eq!(e.message(), Some("no such realm"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anything_else_during_the_handshake_is_a_protocol_violation() {
        let mut h = handshake(Auth::Anonymous);
        let goodbye = Message::Goodbye(switchboard_proto::message::Goodbye {
            details: Default::default(),
            reason: "wamp.close.normal".into(),
        });
        assert!(matches!(
            h.handle(goodbye),
            Err(ConnectError::ProtocolViolation(_))
        ));
    }

    #[test]
    fn custom_challenge_handler_answers_its_methods() {
        let mut h = handshake(Auth::Custom {
            authmethods: vec!["x-otp".into()],
            authid: Some("bob".into()),
            authextra: dict! {"device" => "phone"},
            on_challenge: std::sync::Arc::new(|method, extra| {
                assert_eq!(method, "x-otp");
                let code = extra.get("n").and_then(Value::as_u64).unwrap_or(0);
                Ok((format!("otp-{code}"), Dict::new()))
            }),
        });
        let d = hello_details(&h);
        assert_eq!(d.authmethods(), Some(vec!["x-otp"]));
        assert_eq!(d.authextra().unwrap()["device"], Value::from("phone"));
        let a = authenticate(h.handle(challenge("x-otp", dict! {"n" => 7u64})).unwrap());
        assert_eq!(a.signature, "otp-7");
        // Two-factor: a second round is answered the same way.
        let a = authenticate(h.handle(challenge("x-otp", dict! {"n" => 8u64})).unwrap());
        assert_eq!(a.signature, "otp-8");
    }

    #[test]
    fn invalid_realm_is_refused_before_connecting() {
        let e = Handshake::new(&ConnectOptions {
            realm: "bad realm".into(),
            ..ConnectOptions::default()
        });
        assert!(matches!(e, Err(ConnectError::InvalidOptions(_))));
    }
}
