//! Authentication against a scripted router: a hand-written peer that accepts one connection,
//! checks HELLO, sends CHALLENGE, verifies AUTHENTICATE with `switchboard_proto::auth` (the
//! router-side computations) and answers WELCOME or ABORT. The real router does not
//! authenticate yet; these tests pin the client side of every method.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::scripted::{Peer, scripted};
use common::within;
use switchboard_client::{Auth, ConnectError, ConnectOptions, Dict, Format, Session, Value};
use switchboard_proto::auth::{cra, cryptosign, scram, ticket};
use switchboard_proto::message::Event;
use switchboard_proto::options::EventDetails;
use switchboard_proto::{Id, Payload, dict};

fn options(url: &str, auth: Auth) -> ConnectOptions {
    ConnectOptions {
        auth,
        serializer: Format::MessagePack,
        ..ConnectOptions::new(url, "realm1")
    }
}

async fn connect_and_leave(options: ConnectOptions) -> Session {
    let session = within(Session::connect(options)).await.unwrap();
    within(session.leave()).await.unwrap();
    session
}

#[tokio::test]
async fn ticket_is_presented_and_welcome_accepted() {
    let (url, router) = scripted(|mut p| async move {
        let hello = p.hello().await;
        assert_eq!(hello.details.authmethods(), Some(vec!["ticket"]));
        assert_eq!(hello.details.authid(), Some("joe"));
        p.challenge("ticket", Dict::new()).await;
        let (signature, _) = p.authenticate().await;
        ticket::verify(b"secret!!!", signature.as_bytes()).unwrap();
        p.welcome("joe", "ticket", Dict::new()).await;
        p.serve_goodbye().await;
    })
    .await;
    let session = connect_and_leave(options(
        &url,
        Auth::Ticket {
            authid: "joe".into(),
            ticket: "secret!!!".into(),
        },
    ))
    .await;
    assert_eq!(session.id().get(), 4242);
    assert_eq!(session.details().authmethod.as_deref(), Some("ticket"));
    assert_eq!(session.details().authrole.as_deref(), Some("user"));
    within(router).await.unwrap();
}

#[tokio::test]
async fn a_refused_ticket_is_an_abort_with_the_routers_reason() {
    let (url, router) = scripted(|mut p| async move {
        p.hello().await;
        p.challenge("ticket", Dict::new()).await;
        let (signature, _) = p.authenticate().await;
        assert!(ticket::verify(b"the real one", signature.as_bytes()).is_err());
        p.abort("wamp.error.authentication_failed", "bad ticket")
            .await;
    })
    .await;
    let err = within(Session::connect(options(
        &url,
        Auth::Ticket {
            authid: "joe".into(),
            ticket: "guess".into(),
        },
    )))
    .await
    .unwrap_err();
    match err {
        ConnectError::Aborted(e) => {
            assert_eq!(e.uri, "wamp.error.authentication_failed");
            assert_eq!(e.message(), Some("bad ticket"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!ConnectError::Aborted(Default::default()).is_retryable());
    within(router).await.unwrap();
}

#[tokio::test]
async fn wampcra_signs_the_routers_challenge() {
    let (url, router) = scripted(|mut p| async move {
        let hello = p.hello().await;
        assert_eq!(hello.details.authmethods(), Some(vec!["wampcra"]));
        let challenge = cra::Challenge::with_random_nonce(
            "peter",
            "user",
            "static",
            Id::new(4242).unwrap(),
            cra::format_timestamp(1_700_000_000_000),
        )
        .to_json();
        p.challenge("wampcra", dict! {"challenge" => challenge.as_str()})
            .await;
        let (signature, _) = p.authenticate().await;
        cra::verify(b"secret123", &challenge, &signature).unwrap();
        p.welcome("peter", "wampcra", Dict::new()).await;
        p.serve_goodbye().await;
    })
    .await;
    connect_and_leave(options(
        &url,
        Auth::WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        },
    ))
    .await;
    within(router).await.unwrap();
}

#[tokio::test]
async fn wampcra_with_a_salt_uses_the_derived_key() {
    let (url, router) = scripted(|mut p| async move {
        p.hello().await;
        let challenge = cra::Challenge::with_random_nonce(
            "peter",
            "user",
            "static",
            Id::new(4242).unwrap(),
            cra::format_timestamp(1_700_000_000_000),
        )
        .to_json();
        p.challenge(
            "wampcra",
            dict! {"challenge" => challenge.as_str(), "salt" => "salt123", "iterations" => 100u64, "keylen" => 16u64},
        )
        .await;
        let (signature, _) = p.authenticate().await;
        let key = cra::derive_key(b"secret123", "salt123", 100, 16).unwrap();
        cra::verify(key.as_bytes(), &challenge, &signature).unwrap();
        p.welcome("peter", "wampcra", Dict::new()).await;
        p.serve_goodbye().await;
    })
    .await;
    connect_and_leave(options(
        &url,
        Auth::WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        },
    ))
    .await;
    within(router).await.unwrap();
}

/// Plays the router side of WAMP-SCRAM; `forge` sends a wrong ServerSignature.
async fn scram_router(mut p: Peer, variant: scram::Variant, forge: bool) {
    let hello = p.hello().await;
    assert_eq!(
        hello.details.authmethods(),
        Some(vec![variant.authmethod()])
    );
    let authid = hello.details.authid().unwrap().to_owned();
    let nonce = hello.details.authextra().unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let params = scram::KdfParams::pbkdf2(4096).unwrap();
    let credential =
        scram::StoredCredential::from_password(variant, "pencil", b"sixteen byte slt", params)
            .unwrap();
    let server = scram::ScramServer::new(variant, authid.as_str(), nonce, credential).unwrap();
    let first = server.server_first();
    p.challenge(
        variant.authmethod(),
        dict! {
            "nonce" => first.nonce,
            "salt" => first.salt,
            "kdf" => first.params.kdf().name(variant),
            "iterations" => u64::from(first.params.iterations()),
            "memory" => Value::Null,
        },
    )
    .await;
    let (proof, extra) = p.authenticate().await;
    let echoed = extra["nonce"].as_str().unwrap();
    let mut signature = server.verify(&proof, echoed, None).unwrap();
    if forge {
        signature = "AAAA".to_owned() + &signature[4..];
    }
    p.welcome(
        &authid,
        variant.authmethod(),
        dict! {variant.verifier_key() => signature},
    )
    .await;
    p.serve_goodbye().await;
}

#[tokio::test]
async fn scram_proves_the_password_and_checks_the_router() {
    let (url, router) = scripted(|p| scram_router(p, scram::Variant::Spec, false)).await;
    let session = connect_and_leave(options(
        &url,
        Auth::Scram {
            authid: "user".into(),
            password: "pencil".into(),
        },
    ))
    .await;
    assert_eq!(session.details().authmethod.as_deref(), Some("wamp-scram"));
    within(router).await.unwrap();
}

#[tokio::test]
async fn scram_in_autobahns_dialect() {
    let (url, router) = scripted(|p| scram_router(p, scram::Variant::Autobahn, false)).await;
    connect_and_leave(options(
        &url,
        Auth::ScramAutobahn {
            authid: "user".into(),
            password: "pencil".into(),
        },
    ))
    .await;
    within(router).await.unwrap();
}

#[tokio::test]
async fn scram_refuses_a_router_that_does_not_know_the_password() {
    let (url, router) = scripted(|p| scram_router(p, scram::Variant::Spec, true)).await;
    let err = within(Session::connect(options(
        &url,
        Auth::Scram {
            authid: "user".into(),
            password: "pencil".into(),
        },
    )))
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::Authentication(_)), "{err:?}");
    within(router).await.unwrap();
}

#[tokio::test]
async fn cryptosign_signs_the_challenge_with_the_announced_key() {
    let seed = [7u8; 32];
    let seed_hex = hex_encode(&seed);
    let pubkey_hex = cryptosign::SigningKey::from_seed(&seed).public_key_hex();
    let expected = pubkey_hex.clone();
    let (url, router) = scripted(move |mut p| async move {
        let hello = p.hello().await;
        assert_eq!(hello.details.authmethods(), Some(vec!["cryptosign"]));
        assert_eq!(hello.details.authid(), Some("alice"));
        let pubkey = hello.details.authextra().unwrap()["pubkey"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(pubkey, expected);
        let challenge = cryptosign::generate_challenge();
        p.challenge(
            "cryptosign",
            dict! {"challenge" => hex_encode(&challenge), "channel_binding" => Value::Null},
        )
        .await;
        let (signature, _) = p.authenticate().await;
        assert_eq!(signature.len(), 192);
        cryptosign::verify(&pubkey, &challenge, None, &signature).unwrap();
        p.welcome("alice", "cryptosign", Dict::new()).await;
        p.serve_goodbye().await;
    })
    .await;
    connect_and_leave(options(
        &url,
        Auth::Cryptosign {
            authid: "alice".into(),
            private_key_hex: seed_hex,
        },
    ))
    .await;
    within(router).await.unwrap();
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn two_challenge_rounds_are_answered_by_a_custom_handler() {
    let (url, router) = scripted(|mut p| async move {
        p.hello().await;
        p.challenge("x-otp", dict! {"round" => 1u64}).await;
        assert_eq!(p.authenticate().await.0, "answer-1");
        p.challenge("x-otp", dict! {"round" => 2u64}).await;
        assert_eq!(p.authenticate().await.0, "answer-2");
        p.welcome("bob", "x-otp", Dict::new()).await;
        p.serve_goodbye().await;
    })
    .await;
    let on_challenge: switchboard_client::ChallengeHandler =
        std::sync::Arc::new(|method: &str, extra: &Dict| {
            assert_eq!(method, "x-otp");
            let round = extra.get("round").and_then(Value::as_u64).unwrap_or(0);
            Ok((format!("answer-{round}"), Dict::new()))
        });
    connect_and_leave(options(
        &url,
        Auth::Custom {
            authmethods: vec!["x-otp".into()],
            authid: Some("bob".into()),
            authextra: Dict::new(),
            on_challenge,
        },
    ))
    .await;
    within(router).await.unwrap();
}

#[tokio::test]
async fn a_message_other_than_welcome_during_the_handshake_is_a_protocol_violation() {
    let (url, router) = scripted(|mut p| async move {
        p.hello().await;
        p.send(Event {
            subscription: Id::MIN,
            publication: Id::MIN,
            details: EventDetails::default(),
            payload: Payload::empty(),
        })
        .await;
        while p.recv().await.is_some() {}
    })
    .await;
    let err = within(Session::connect(options(&url, Auth::Anonymous)))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::ProtocolViolation(_)), "{err:?}");
    within(router).await.unwrap();
}

#[tokio::test]
async fn a_connection_closed_before_welcome_is_transport_lost() {
    let (url, router) = scripted(|mut p| async move {
        p.hello().await;
        let _ = p.conn.writer.close().await;
    })
    .await;
    let err = within(Session::connect(options(&url, Auth::Anonymous)))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::TransportLost), "{err:?}");
    assert!(err.is_retryable());
    within(router).await.unwrap();
}

#[tokio::test]
async fn a_silent_router_makes_connect_time_out() {
    let (url, router) = scripted(|mut p| async move {
        p.hello().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let options = ConnectOptions {
        connect_timeout: Duration::from_millis(100),
        ..options(&url, Auth::Anonymous)
    };
    let err = within(Session::connect(options)).await.unwrap_err();
    assert!(matches!(err, ConnectError::Timeout), "{err:?}");
    router.abort();
}

#[tokio::test]
async fn an_abort_after_welcome_ends_the_session_as_aborted() {
    let (url, router) = scripted(|mut p| async move {
        p.hello().await;
        p.welcome("anon", "anonymous", Dict::new()).await;
        p.abort("wamp.error.protocol_violation", "you did something")
            .await;
        while p.recv().await.is_some() {}
    })
    .await;
    let session = within(Session::connect(options(&url, Auth::Anonymous)))
        .await
        .unwrap();
    let info = within(session.closed()).await;
    assert_eq!(info.kind, switchboard_client::CloseKind::Aborted);
    assert_eq!(info.reason, "wamp.error.protocol_violation");
    assert_eq!(info.message.as_deref(), Some("you did something"));
    let err = within(session.call::<()>("com.x", (), ()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, switchboard_client::CallError::ProtocolViolation(_)),
        "{err:?}"
    );
    within(router).await.unwrap();
}
