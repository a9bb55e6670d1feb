//! Authentication (every method, success and failure), authorization (allow and deny per
//! action) and the per-session limits, stepped in memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;

use harness::{Client, args, roles};
use switchboard_engine::auth::{CraPrincipal, RealmSecurity, ScramPrincipal, StaticAuthenticator};
use switchboard_engine::authz::{Permission, RoleAuthorizer};
use switchboard_engine::limits::LIMIT_EXCEEDED;
use switchboard_engine::{EngineConfig, Router, SessionLimits};
use switchboard_proto::auth::scram::{KdfLimits, KdfParams, ScramClient, ServerFirst, Variant};
use switchboard_proto::auth::{Secret, cra, cryptosign};
use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::uri::{MatchPolicy, Pattern, UriRules};
use switchboard_proto::{Dict, Format, Message, Payload, Value, dict};

const REALM: &str = "realm1";
const CS_SEED: &str = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
const CS_PUBKEY: &str = "1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d";

fn pattern(uri: &str, policy: MatchPolicy) -> Pattern {
    Pattern::parse(uri, policy, UriRules::Loose).unwrap()
}

/// The principals of `examples/auth.toml` (with cheap SCRAM parameters).
fn authenticator() -> StaticAuthenticator {
    let argon = KdfParams::argon2id13(2, 64).unwrap();
    let pbkdf2 = KdfParams::pbkdf2(16).unwrap();
    StaticAuthenticator::new()
        .with_anonymous("anonymous")
        .with_ticket("ticket-user", Secret::from("ticket-pass"), "user")
        .with_wampcra(
            "wamp-cra-user",
            CraPrincipal::new(Secret::from("cra-secret"), "user"),
        )
        .with_wampcra(
            "wamp-cra-salt-user",
            CraPrincipal::salted(
                &Secret::from("cra-salt-secret"),
                "cra-salt",
                1000,
                32,
                "user",
            )
            .unwrap(),
        )
        .with_scram(
            "scram-user",
            ScramPrincipal::from_password("scram-pass", b"0123456789abcdef", argon, "user")
                .unwrap(),
        )
        .with_scram(
            "pbkdf2-user",
            ScramPrincipal::from_password("pbkdf2-pass", b"fedcba9876543210", pbkdf2, "user")
                .unwrap(),
        )
        .with_scram_mock_params(argon)
        .with_cryptosign("cryptosign-user", &[CS_PUBKEY], "user")
        .unwrap()
}

/// Role `user` may do everything (disclosing callers of `com.disclosed.`), role `anonymous`
/// may call and subscribe under `public.`.
fn authorizer() -> RoleAuthorizer {
    let mut a = RoleAuthorizer::new();
    a.add_rule("user", pattern("", MatchPolicy::Prefix), Permission::ALL);
    a.add_rule(
        "user",
        pattern("com.disclosed.", MatchPolicy::Prefix),
        Permission {
            disclose_caller: true,
            disclose_publisher: true,
            ..Permission::ALL
        },
    );
    a.add_rule(
        "anonymous",
        pattern("public.", MatchPolicy::Prefix),
        Permission {
            call: true,
            subscribe: true,
            ..Permission::NONE
        },
    );
    a
}

fn secure_router_with(limits: SessionLimits) -> Arc<Router> {
    let mut config = EngineConfig {
        auto_realms: false,
        session_limits: limits,
        ..EngineConfig::default()
    };
    config.security.insert(
        REALM.into(),
        RealmSecurity {
            authenticator: Arc::new(authenticator()),
            authorizer: Arc::new(authorizer()),
        },
    );
    Router::new(config)
}

fn secure_router() -> Arc<Router> {
    secure_router_with(SessionLimits::default())
}

fn hello(c: &mut Client, methods: &[&str], authid: Option<&str>, authextra: Dict) {
    let mut details = HelloDetails::default().with("roles", roles(&[]));
    if !methods.is_empty() {
        let list: Vec<Value> = methods.iter().map(|m| Value::from(*m)).collect();
        details = details.with("authmethods", list);
    }
    if let Some(authid) = authid {
        details = details.with("authid", authid);
    }
    if !authextra.is_empty() {
        details = details.with("authextra", authextra);
    }
    c.send(Hello {
        realm: REALM.into(),
        details,
    });
}

fn expect_challenge(c: &mut Client, method: &str) -> Dict {
    match c.recv() {
        Some(Message::Challenge(ch)) if ch.method == method => ch.extra,
        other => panic!("expected CHALLENGE {method}, got {other:?}"),
    }
}

fn authenticate(c: &mut Client, signature: &str, extra: Dict) {
    c.send(Authenticate {
        signature: signature.into(),
        extra,
    });
}

fn expect_welcome(c: &mut Client) -> Welcome {
    match c.recv() {
        Some(Message::Welcome(w)) => w,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

fn assert_identity(w: &Welcome, authid: &str, authrole: &str, authmethod: &str) {
    assert_eq!(w.details.authid(), Some(authid));
    assert_eq!(w.details.authrole(), Some(authrole));
    assert_eq!(w.details.authmethod(), Some(authmethod));
    assert_eq!(w.details.authprovider(), Some("static"));
}

const FAILED: &str = "wamp.error.authentication_failed";

// ---------------------------------------------------------------------------------------------
// Anonymous and method selection
// ---------------------------------------------------------------------------------------------

#[test]
fn no_authmethods_means_anonymous_with_the_configured_role() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &[], None, Dict::new());
    let w = expect_welcome(&mut c);
    assert_identity(&w, &w.session.to_string(), "anonymous", "anonymous");
}

#[test]
fn the_first_configured_method_in_the_clients_order_is_used() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(
        &mut c,
        &["bogus", "ticket", "anonymous"],
        Some("ticket-user"),
        Dict::new(),
    );
    expect_challenge(&mut c, "ticket");
}

#[test]
fn offering_no_configured_method_is_no_matching_auth_method() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["tls", "cookie"], Some("x"), Dict::new());
    c.expect_abort("wamp.error.no_matching_auth_method");
}

#[test]
fn a_realm_without_anonymous_refuses_clients_offering_nothing() {
    let mut config = EngineConfig::default();
    config.security.insert(
        REALM.into(),
        RealmSecurity {
            authenticator: Arc::new(StaticAuthenticator::new().with_ticket(
                "a",
                Secret::from("b"),
                "user",
            )),
            authorizer: Arc::new(authorizer()),
        },
    );
    let router = Router::new(config);
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &[], None, Dict::new());
    c.expect_abort("wamp.error.no_matching_auth_method");
}

#[test]
fn a_message_other_than_authenticate_during_the_challenge_is_a_protocol_violation() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["ticket"], Some("ticket-user"), Dict::new());
    expect_challenge(&mut c, "ticket");
    c.call("public.x", Payload::empty());
    c.expect_abort("wamp.error.protocol_violation");
    assert_eq!(router.session_count(), 0);
}

#[test]
fn abort_during_the_challenge_ends_quietly() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["ticket"], Some("ticket-user"), Dict::new());
    expect_challenge(&mut c, "ticket");
    c.send(Abort {
        details: CloseDetails::default(),
        reason: "wamp.close.normal".into(),
        payload: Payload::empty(),
    });
    c.expect_nothing();
    assert_eq!(router.session_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Ticket
// ---------------------------------------------------------------------------------------------

#[test]
fn ticket_login_succeeds_with_the_right_ticket() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::MessagePack);
    hello(&mut c, &["ticket"], Some("ticket-user"), Dict::new());
    assert!(expect_challenge(&mut c, "ticket").is_empty());
    authenticate(&mut c, "ticket-pass", Dict::new());
    let w = expect_welcome(&mut c);
    assert_identity(&w, "ticket-user", "user", "ticket");
}

#[test]
fn ticket_login_fails_with_a_wrong_ticket_or_an_unknown_authid() {
    let router = secure_router();
    for (authid, ticket) in [
        ("ticket-user", "ticket-pas"),
        ("ticket-user", ""),
        ("nobody", "ticket-pass"),
    ] {
        let mut c = Client::connect(&router, Format::Json);
        hello(&mut c, &["ticket"], Some(authid), Dict::new());
        expect_challenge(&mut c, "ticket");
        authenticate(&mut c, ticket, Dict::new());
        c.expect_abort(FAILED);
    }
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["ticket"], None, Dict::new());
    c.expect_abort(FAILED);
    assert_eq!(router.session_count(), 0);
}

#[test]
fn the_abort_message_does_not_contain_the_ticket() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["ticket"], Some("ticket-user"), Dict::new());
    expect_challenge(&mut c, "ticket");
    authenticate(&mut c, "my-guess-123", Dict::new());
    let frame = c.recv_frame().unwrap();
    let text = String::from_utf8_lossy(&frame);
    assert!(text.contains(FAILED), "{text}");
    assert!(!text.contains("my-guess-123"), "{text}");
    assert!(!text.contains("ticket-pass"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// WAMP-CRA
// ---------------------------------------------------------------------------------------------

fn cra_login(authid: &str, secret: &str) -> (Client, Option<Welcome>) {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["wampcra"], Some(authid), Dict::new());
    let extra = expect_challenge(&mut c, "wampcra");
    let challenge = extra.get("challenge").and_then(Value::as_str).unwrap();
    let key = match extra.get("salt") {
        Some(salt) => {
            let iterations = extra.get("iterations").and_then(Value::as_u64).unwrap();
            let keylen = extra.get("keylen").and_then(Value::as_u64).unwrap();
            cra::derive_key(
                secret.as_bytes(),
                salt.as_str().unwrap(),
                iterations as u32,
                keylen as usize,
            )
            .unwrap()
            .to_string()
        }
        None => secret.to_owned(),
    };
    authenticate(&mut c, &cra::sign(key.as_bytes(), challenge), Dict::new());
    match c.recv() {
        Some(Message::Welcome(w)) => (c, Some(w)),
        Some(Message::Abort(a)) => {
            assert_eq!(a.reason, FAILED);
            (c, None)
        }
        other => panic!("expected WELCOME or ABORT, got {other:?}"),
    }
}

#[test]
fn wampcra_login_succeeds_and_the_challenge_names_the_welcome_session() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["wampcra"], Some("wamp-cra-user"), Dict::new());
    let extra = expect_challenge(&mut c, "wampcra");
    assert!(!extra.contains_key("salt"));
    let challenge = extra.get("challenge").and_then(Value::as_str).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(challenge).unwrap();
    assert_eq!(parsed["authid"], "wamp-cra-user");
    assert_eq!(parsed["authrole"], "user");
    assert_eq!(parsed["authmethod"], "wampcra");
    authenticate(&mut c, &cra::sign(b"cra-secret", challenge), Dict::new());
    let w = expect_welcome(&mut c);
    assert_identity(&w, "wamp-cra-user", "user", "wampcra");
    assert_eq!(parsed["session"].as_u64(), Some(w.session.get()));
}

#[test]
fn wampcra_login_fails_with_a_wrong_secret() {
    let (mut c, welcome) = cra_login("wamp-cra-user", "cra-secreT");
    assert!(welcome.is_none());
    assert_eq!(c.last_flow, switchboard_engine::Flow::Close);
    c.expect_nothing();
}

#[test]
fn salted_wampcra_login_succeeds_with_the_derived_key() {
    let (_c, welcome) = cra_login("wamp-cra-salt-user", "cra-salt-secret");
    assert_identity(&welcome.unwrap(), "wamp-cra-salt-user", "user", "wampcra");
}

#[test]
fn salted_wampcra_challenge_carries_salt_iterations_keylen_and_fails_with_a_wrong_secret() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(
        &mut c,
        &["wampcra"],
        Some("wamp-cra-salt-user"),
        Dict::new(),
    );
    let extra = expect_challenge(&mut c, "wampcra");
    assert_eq!(extra.get("salt"), Some(&Value::from("cra-salt")));
    assert_eq!(extra.get("iterations"), Some(&Value::from(1000u32)));
    assert_eq!(extra.get("keylen"), Some(&Value::from(32u32)));
    let (_c, welcome) = cra_login("wamp-cra-salt-user", "cra-secret");
    assert!(welcome.is_none());
    // Signing with the unsalted secret is not enough either.
    let challenge = extra.get("challenge").and_then(Value::as_str).unwrap();
    authenticate(
        &mut c,
        &cra::sign(b"cra-salt-secret", challenge),
        Dict::new(),
    );
    c.expect_abort(FAILED);
}

#[test]
fn wampcra_unknown_authid_is_refused_after_hello() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["wampcra"], Some("mallory"), Dict::new());
    c.expect_abort(FAILED);
}

// ---------------------------------------------------------------------------------------------
// SCRAM (spec and Autobahn variants)
// ---------------------------------------------------------------------------------------------

fn scram_login(variant: Variant, authid: &str, password: &str, echo_nonce: bool) -> Client {
    let router = secure_router();
    let client = ScramClient::new(variant, authid);
    let mut c = Client::connect(&router, Format::Cbor);
    hello(
        &mut c,
        &[variant.authmethod()],
        Some(authid),
        dict! { "nonce" => client.nonce() },
    );
    let extra = expect_challenge(&mut c, variant.authmethod());
    let nonce = extra.get("nonce").and_then(Value::as_str).unwrap();
    let params = KdfParams::from_challenge(
        extra.get("kdf").and_then(Value::as_str).unwrap(),
        extra.get("iterations").and_then(Value::as_u64).unwrap(),
        extra.get("memory").and_then(Value::as_u64),
    )
    .unwrap();
    let first = ServerFirst {
        nonce,
        salt: extra.get("salt").and_then(Value::as_str).unwrap(),
        params,
    };
    let limits = KdfLimits {
        pbkdf2_iterations: (1, 1 << 20),
        argon2_iterations: (1, 16),
        argon2_memory_kib: (8, 1 << 16),
        argon2_max_cost: 1 << 20,
    };
    let fin = client.respond(password, &first, None, &limits).unwrap();
    let extra = if echo_nonce {
        dict! { "nonce" => nonce, "channel_binding" => Value::Null }
    } else {
        Dict::new()
    };
    authenticate(&mut c, fin.proof(), extra);
    if let Some(Message::Welcome(w)) = c
        .outbox
        .frames
        .lock()
        .front()
        .map(|f| switchboard_proto::decode(c.format, f).unwrap())
    {
        let key = variant.verifier_key();
        let verifier = w
            .details
            .authextra()
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .unwrap();
        fin.verify_server_signature(verifier).unwrap();
    }
    c
}

#[test]
fn wamp_scram_login_succeeds_and_welcome_carries_the_verifier() {
    let mut c = scram_login(Variant::Spec, "scram-user", "scram-pass", true);
    let w = expect_welcome(&mut c);
    assert_identity(&w, "scram-user", "user", "wamp-scram");
    let mut c = scram_login(Variant::Spec, "pbkdf2-user", "pbkdf2-pass", true);
    assert_identity(&expect_welcome(&mut c), "pbkdf2-user", "user", "wamp-scram");
}

#[test]
fn autobahn_scram_login_succeeds_without_an_echoed_nonce() {
    let mut c = scram_login(Variant::Autobahn, "scram-user", "scram-pass", false);
    let w = expect_welcome(&mut c);
    assert_identity(&w, "scram-user", "user", "scram");
    assert!(
        w.details
            .authextra()
            .unwrap()
            .contains_key("scram_server_signature")
    );
}

#[test]
fn scram_login_fails_with_a_wrong_password() {
    for variant in [Variant::Spec, Variant::Autobahn] {
        let mut c = scram_login(variant, "scram-user", "scram-pass!", true);
        c.expect_abort(FAILED);
    }
}

#[test]
fn scram_unknown_user_gets_a_mock_challenge_and_then_fails() {
    let mut c = scram_login(Variant::Spec, "nobody", "whatever", true);
    c.expect_abort(FAILED);
}

#[test]
fn scram_spec_requires_the_echoed_nonce() {
    let mut c = scram_login(Variant::Spec, "scram-user", "scram-pass", false);
    c.expect_abort(FAILED);
}

#[test]
fn scram_without_a_client_nonce_or_with_channel_binding_is_refused() {
    let router = secure_router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["wamp-scram"], Some("scram-user"), Dict::new());
    c.expect_abort(FAILED);
    let mut c = Client::connect(&router, Format::Json);
    hello(
        &mut c,
        &["wamp-scram"],
        Some("scram-user"),
        dict! { "nonce" => "abcdefgh", "channel_binding" => "tls-unique" },
    );
    c.expect_abort(FAILED);
}

// ---------------------------------------------------------------------------------------------
// Cryptosign
// ---------------------------------------------------------------------------------------------

fn cryptosign_hello(router: &Arc<Router>, authid: Option<&str>, pubkey: &str) -> (Client, Dict) {
    let mut c = Client::connect(router, Format::Json);
    hello(
        &mut c,
        &["cryptosign"],
        authid,
        dict! { "pubkey" => pubkey },
    );
    let extra = match c.recv() {
        Some(Message::Challenge(ch)) => ch.extra,
        Some(other) => {
            c.outbox
                .frames
                .lock()
                .push_front(switchboard_proto::encode(&other, c.format).unwrap());
            Dict::new()
        }
        None => Dict::new(),
    };
    (c, extra)
}

#[test]
fn cryptosign_login_succeeds_with_the_authorized_key() {
    let router = secure_router();
    for authid in [None, Some("cryptosign-user")] {
        let (mut c, extra) = cryptosign_hello(&router, authid, CS_PUBKEY);
        assert_eq!(extra.get("channel_binding"), Some(&Value::Null));
        let challenge = extra.get("challenge").and_then(Value::as_str).unwrap();
        let key = cryptosign::SigningKey::from_seed_hex(CS_SEED).unwrap();
        let signature = key.sign_challenge(challenge, None).unwrap();
        authenticate(&mut c, &signature, Dict::new());
        let w = expect_welcome(&mut c);
        assert_identity(&w, "cryptosign-user", "user", "cryptosign");
    }
}

#[test]
fn cryptosign_login_fails_with_another_key_or_a_bad_signature() {
    let router = secure_router();
    // A key that is not authorized: refused right after HELLO.
    let other = cryptosign::SigningKey::generate();
    let (mut c, _) = cryptosign_hello(&router, None, &other.public_key_hex());
    c.expect_abort(FAILED);
    // The authorized public key, signed with another private key.
    let (mut c, extra) = cryptosign_hello(&router, None, CS_PUBKEY);
    let challenge = extra.get("challenge").and_then(Value::as_str).unwrap();
    authenticate(
        &mut c,
        &other.sign_challenge(challenge, None).unwrap(),
        Dict::new(),
    );
    c.expect_abort(FAILED);
    // Garbage.
    let (mut c, _) = cryptosign_hello(&router, None, CS_PUBKEY);
    authenticate(&mut c, "zz", Dict::new());
    c.expect_abort(FAILED);
    // The right key claiming another authid.
    let (mut c, _) = cryptosign_hello(&router, Some("ticket-user"), CS_PUBKEY);
    c.expect_abort(FAILED);
    // No public key at all.
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["cryptosign"], None, Dict::new());
    c.expect_abort(FAILED);
}

// ---------------------------------------------------------------------------------------------
// The meta API shows the identity
// ---------------------------------------------------------------------------------------------

fn login_ticket(router: &Arc<Router>) -> Client {
    let mut c = Client::connect(router, Format::Json);
    hello(&mut c, &["ticket"], Some("ticket-user"), Dict::new());
    expect_challenge(&mut c, "ticket");
    authenticate(&mut c, "ticket-pass", Dict::new());
    expect_welcome(&mut c);
    c
}

fn login_anonymous(router: &Arc<Router>) -> Client {
    let mut c = Client::connect(router, Format::Json);
    hello(&mut c, &["anonymous"], None, Dict::new());
    expect_welcome(&mut c);
    c
}

fn result(c: &mut Client) -> CallResult {
    match c.recv() {
        Some(Message::Result(r)) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[test]
fn session_meta_api_shows_authid_authrole_authmethod_authprovider() {
    let router = secure_router();
    let mut t = login_ticket(&router);
    let me = t.session_id();
    t.call("wamp.session.get", args(vec![me.into()]));
    let r = result(&mut t);
    let d = r.payload.to_values().unwrap().args[0]
        .as_dict()
        .unwrap()
        .clone();
    assert_eq!(d.get("authid"), Some(&Value::from("ticket-user")));
    assert_eq!(d.get("authrole"), Some(&Value::from("user")));
    assert_eq!(d.get("authmethod"), Some(&Value::from("ticket")));
    assert_eq!(d.get("authprovider"), Some(&Value::from("static")));
}

// ---------------------------------------------------------------------------------------------
// Authorization
// ---------------------------------------------------------------------------------------------

const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";

#[test]
fn anonymous_may_call_and_subscribe_under_public_only() {
    let router = secure_router();
    let mut user = login_ticket(&router);
    user.register("public.echo");
    user.register("private.echo");
    let mut anon = login_anonymous(&router);

    // call: allowed under public., denied elsewhere (and for meta procedures).
    anon.call("public.echo", args(vec![1.into()]));
    let inv = user.expect_invocation();
    user.send(Yield {
        request: inv.request,
        options: Default::default(),
        payload: args(vec![1.into()]),
    });
    result(&mut anon);
    anon.call("private.echo", Payload::empty());
    anon.expect_error(48, NOT_AUTHORIZED);
    anon.call("wamp.session.count", Payload::empty());
    anon.expect_error(48, NOT_AUTHORIZED);
    user.expect_nothing();

    // subscribe: allowed under public., denied elsewhere.
    anon.subscribe("public.news");
    let r = anon.request();
    anon.send(Subscribe {
        request: r,
        options: SubscribeOptions::default(),
        topic: "private.news".into(),
    });
    anon.expect_error(32, NOT_AUTHORIZED);
    let r = anon.request();
    anon.send(Subscribe {
        request: r,
        options: SubscribeOptions::default().with("match", "prefix"),
        topic: "".into(),
    });
    anon.expect_error(32, NOT_AUTHORIZED);
    let r = anon.request();
    anon.send(Subscribe {
        request: r,
        options: SubscribeOptions::default().with("match", "prefix"),
        topic: "public.".into(),
    });
    assert!(matches!(anon.recv(), Some(Message::Subscribed(_))));

    // register: denied even under public.
    let r = anon.request();
    anon.send(Register {
        request: r,
        options: RegisterOptions::default(),
        procedure: "public.mine".into(),
    });
    anon.expect_error(64, NOT_AUTHORIZED);

    // publish: denied; with acknowledge an ERROR, without nothing at all.
    anon.publish(
        "public.news",
        PublishOptions::default().with("acknowledge", true),
        Payload::empty(),
    );
    anon.expect_error(16, NOT_AUTHORIZED);
    anon.publish("public.news", PublishOptions::default(), Payload::empty());
    anon.expect_nothing();
}

#[test]
fn user_may_do_everything() {
    let router = secure_router();
    let mut a = login_ticket(&router);
    let mut b = login_ticket(&router);
    b.subscribe("com.app.news");
    a.publish(
        "com.app.news",
        PublishOptions::default().with("acknowledge", true),
        Payload::empty(),
    );
    assert!(matches!(a.recv(), Some(Message::Published(_))));
    assert!(matches!(b.recv(), Some(Message::Event(_))));
    b.register("com.app.f");
    a.call("com.app.f", Payload::empty());
    b.expect_invocation();
    a.call("wamp.session.count", Payload::empty());
    result(&mut a);
}

#[test]
fn a_disclosing_rule_discloses_caller_and_publisher() {
    let router = secure_router();
    let mut a = login_ticket(&router);
    let mut b = login_ticket(&router);
    b.register("com.disclosed.f");
    b.subscribe("com.disclosed.t");
    a.call("com.disclosed.f", Payload::empty());
    let inv = b.expect_invocation();
    assert_eq!(inv.details.caller(), Some(a.session_id()));
    assert_eq!(inv.details.caller_authid(), Some("ticket-user"));
    a.publish(
        "com.disclosed.t",
        PublishOptions::default(),
        Payload::empty(),
    );
    match b.recv() {
        Some(Message::Event(e)) => {
            assert_eq!(e.details.publisher(), Some(a.session_id()));
            assert_eq!(e.details.publisher_authrole(), Some("user"));
        }
        other => panic!("expected EVENT, got {other:?}"),
    }
    // Elsewhere nothing is disclosed.
    b.register("com.app.g");
    a.call("com.app.g", Payload::empty());
    assert_eq!(b.expect_invocation().details.caller(), None);
}

#[test]
fn the_development_default_allows_everything() {
    let router = harness::router();
    let mut c = Client::joined(&router, Format::Json, "realm1");
    c.register("any.thing");
    c.subscribe("any.topic");
    c.call("wamp.session.count", Payload::empty());
    result(&mut c);
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[test]
fn max_sessions_per_authid_refuses_one_more_and_frees_the_slot_on_leave() {
    let router = secure_router_with(SessionLimits {
        max_sessions_per_authid: Some(2),
        ..SessionLimits::default()
    });
    let a = login_ticket(&router);
    let _b = login_ticket(&router);
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["ticket"], Some("ticket-user"), Dict::new());
    expect_challenge(&mut c, "ticket");
    authenticate(&mut c, "ticket-pass", Dict::new());
    c.expect_abort(NOT_AUTHORIZED);
    // Other principals are not affected.
    login_anonymous(&router);
    drop(a);
    login_ticket(&router);
}

#[test]
fn max_registrations_and_subscriptions_per_session_are_enforced() {
    let router = secure_router_with(SessionLimits {
        max_registrations: Some(2),
        max_subscriptions: Some(1),
        ..SessionLimits::default()
    });
    let mut c = login_ticket(&router);
    c.register("com.a");
    c.register("com.b");
    let r = c.request();
    c.send(Register {
        request: r,
        options: RegisterOptions::default(),
        procedure: "com.c".into(),
    });
    let e = c.expect_error(64, LIMIT_EXCEEDED);
    assert!(format!("{:?}", e.payload).contains("registrations"));
    c.subscribe("com.t1");
    // Subscribing again to what the session already has is not a new subscription.
    c.subscribe("com.t1");
    let r = c.request();
    c.send(Subscribe {
        request: r,
        options: SubscribeOptions::default(),
        topic: "com.t2".into(),
    });
    c.expect_error(32, LIMIT_EXCEEDED);
    // The session is still fine.
    c.call("wamp.session.count", Payload::empty());
    result(&mut c);
}

#[test]
fn max_pending_calls_per_session_refuses_one_more_until_a_result_arrives() {
    let router = secure_router_with(SessionLimits {
        max_pending_calls: Some(2),
        ..SessionLimits::default()
    });
    let mut callee = login_ticket(&router);
    callee.register("com.slow");
    let mut caller = login_ticket(&router);
    caller.call("com.slow", Payload::empty());
    caller.call("com.slow", Payload::empty());
    let first = callee.expect_invocation();
    callee.expect_invocation();
    caller.call("com.slow", Payload::empty());
    let e = caller.expect_error(48, LIMIT_EXCEEDED);
    assert!(format!("{:?}", e.payload).contains("max_pending_calls_per_session"));
    // Meta procedures are answered at once and do not count.
    caller.call("wamp.session.count", Payload::empty());
    result(&mut caller);
    callee.send(Yield {
        request: first.request,
        options: Default::default(),
        payload: Payload::empty(),
    });
    result(&mut caller);
    caller.call("com.slow", Payload::empty());
    callee.expect_invocation();
    caller.expect_nothing();
}

#[test]
fn a_testament_needs_the_right_to_publish_to_its_topic() {
    let mut a = RoleAuthorizer::new();
    a.add_rule(
        "anonymous",
        pattern("wamp.session.add_testament", MatchPolicy::Exact),
        Permission {
            call: true,
            ..Permission::NONE
        },
    );
    a.add_rule(
        "anonymous",
        pattern("public.", MatchPolicy::Prefix),
        Permission {
            publish: true,
            ..Permission::NONE
        },
    );
    let mut config = EngineConfig::default();
    config.security.insert(
        REALM.into(),
        RealmSecurity {
            authenticator: Arc::new(StaticAuthenticator::new().with_anonymous("anonymous")),
            authorizer: Arc::new(a),
        },
    );
    let router = Router::new(config);
    let mut c = login_anonymous(&router);
    c.call(
        "wamp.session.add_testament",
        args(vec![
            "private.gone".into(),
            Value::List(vec![]),
            Value::Dict(Dict::new()),
        ]),
    );
    c.expect_error(48, NOT_AUTHORIZED);
    c.call(
        "wamp.session.add_testament",
        args(vec![
            "public.gone".into(),
            Value::List(vec![]),
            Value::Dict(Dict::new()),
        ]),
    );
    result(&mut c);
}
