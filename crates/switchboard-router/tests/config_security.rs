//! The security sections of the config file: `[realm.auth]`, `[[realm.role]]`, `[listen.tls]`,
//! `unix` listeners and the per-peer limits. Every mistake is an error naming its key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use switchboard_router::config::{Config, ConfigError};
use switchboard_router::security::ScramSource;

fn key_of(text: &str) -> String {
    match Config::from_toml_str(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected a validation error for\n{text}\ngot {other:?}"),
    }
}

const REALM: &str = "[[realm]]\nname = \"realm1\"\n";
const USER_ROLE: &str = "[[realm.role]]\nname = \"user\"\n";

#[test]
fn examples_auth_toml_has_exactly_the_principals_of_the_issue() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/auth.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.listen.len(), 1);
    assert_eq!(config.listen[0].bind, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.listen[0].ws_path, "/ws");
    assert!(!config.router.auto_realms);
    assert_eq!(config.realms.len(), 1);
    let realm = &config.realms[0];
    assert_eq!(realm.name.as_str(), "realm1");
    let auth = realm.auth.as_ref().unwrap();
    assert_eq!(auth.anonymous.as_deref(), Some("anonymous"));

    assert_eq!(auth.ticket.len(), 1);
    assert_eq!(auth.ticket[0].authid, "ticket-user");
    assert_eq!(auth.ticket[0].ticket.expose(), "ticket-pass");
    assert_eq!(auth.ticket[0].role, "user");

    assert_eq!(auth.wampcra.len(), 2);
    assert_eq!(auth.wampcra[0].authid, "wamp-cra-user");
    assert_eq!(auth.wampcra[0].secret.expose(), "cra-secret");
    assert_eq!(auth.wampcra[0].salt, None);
    assert_eq!(auth.wampcra[1].authid, "wamp-cra-salt-user");
    assert_eq!(auth.wampcra[1].secret.expose(), "cra-salt-secret");
    assert_eq!(auth.wampcra[1].salt, Some(("cra-salt".into(), 1000, 32)));
    assert!(auth.wampcra.iter().all(|p| p.role == "user"));

    assert_eq!(auth.cryptosign.len(), 1);
    assert_eq!(auth.cryptosign[0].authid, "cryptosign-user");
    assert_eq!(
        auth.cryptosign[0].authorized_keys,
        ["1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d"]
    );
    assert_eq!(auth.cryptosign[0].role, "user");

    assert_eq!(auth.scram.len(), 1);
    let scram = &auth.scram[0];
    assert_eq!(scram.authid, "scram-user");
    assert_eq!(scram.role, "user");
    assert_eq!(
        scram.params.kdf(),
        switchboard_proto::auth::scram::Kdf::Argon2id13
    );
    match &scram.credential {
        ScramSource::Password { password, .. } => assert_eq!(password.expose(), "scram-pass"),
        other => panic!("expected a password, got {other:?}"),
    }

    let roles: Vec<&str> = realm.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(roles, ["user", "anonymous"]);
    assert_eq!(realm.roles[1].permissions.len(), 1);
    let (pattern, permission) = &realm.roles[1].permissions[0];
    assert_eq!(pattern.as_str(), "public.");
    assert!(permission.call && permission.subscribe);
    assert!(!permission.register && !permission.publish);
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/auth.toml");
    let config = Config::load(&path).unwrap();
    let debug = format!("{config:?}");
    for secret in ["ticket-pass", "cra-secret", "cra-salt-secret", "scram-pass"] {
        assert!(!debug.contains(secret), "Debug output shows {secret:?}");
    }
    assert!(debug.contains("<redacted>"));
}

#[test]
fn a_realm_without_auth_or_roles_stays_open() {
    let config = Config::from_toml_str(REALM).unwrap();
    assert!(config.realms[0].auth.is_none());
    assert!(config.realms[0].roles.is_empty());
}

#[test]
fn auth_mistakes_name_their_key() {
    let auth = |body: &str| format!("{REALM}{body}\n{USER_ROLE}");
    let cases: Vec<(String, &str)> = vec![
        (
            auth("[[realm.auth.ticket]]\nauthid = \"\"\nticket = \"t\"\nrole = \"user\""),
            "realm[0].auth.ticket[0].authid",
        ),
        (
            auth("[[realm.auth.ticket]]\nauthid = \"a\"\nticket = \"\"\nrole = \"user\""),
            "realm[0].auth.ticket[0].ticket",
        ),
        (
            auth(
                "[[realm.auth.ticket]]\nauthid = \"a\"\nticket = \"t\"\nrole = \"user\"\n\
                 [[realm.auth.ticket]]\nauthid = \"a\"\nticket = \"u\"\nrole = \"user\"",
            ),
            "realm[0].auth.ticket[1].authid",
        ),
        (
            auth("[[realm.auth.ticket]]\nauthid = \"a\"\nticket = \"t\"\nrole = \"admin\""),
            "realm[0].auth.ticket[0].role",
        ),
        (
            auth("[realm.auth.anonymous]\nrole = \"guest\""),
            "realm[0].auth.anonymous.role",
        ),
        (
            auth(
                "[[realm.auth.wampcra]]\nauthid = \"a\"\nsecret = \"s\"\nrole = \"user\"\niterations = 5",
            ),
            "realm[0].auth.wampcra[0].iterations",
        ),
        (
            auth(
                "[[realm.auth.wampcra]]\nauthid = \"a\"\nsecret = \"s\"\nrole = \"user\"\nsalt = \"x\"\nkeylen = 0",
            ),
            "realm[0].auth.wampcra[0].keylen",
        ),
        (
            auth("[[realm.auth.scram]]\nauthid = \"a\"\nrole = \"user\""),
            "realm[0].auth.scram[0].password",
        ),
        (
            auth(
                "[[realm.auth.scram]]\nauthid = \"a\"\nrole = \"user\"\npassword = \"p\"\nkdf = \"scrypt\"",
            ),
            "realm[0].auth.scram[0].kdf",
        ),
        (
            auth(
                "[[realm.auth.scram]]\nauthid = \"a\"\nrole = \"user\"\npassword = \"p\"\nmemory = 1",
            ),
            "realm[0].auth.scram[0].memory",
        ),
        (
            auth(
                "[[realm.auth.scram]]\nauthid = \"a\"\nrole = \"user\"\npassword = \"p\"\nkdf = \"pbkdf2\"\niterations = 0",
            ),
            "realm[0].auth.scram[0].iterations",
        ),
        (
            auth(
                "[[realm.auth.scram]]\nauthid = \"a\"\nrole = \"user\"\npassword = \"p\"\nsalt = \"!!\"",
            ),
            "realm[0].auth.scram[0].salt",
        ),
        (
            auth(
                "[[realm.auth.scram]]\nauthid = \"a\"\nrole = \"user\"\nstored_key = \"00\"\nserver_key = \"00\"\nsalt = \"AAAAAAAAAAA=\"",
            ),
            "realm[0].auth.scram[0].stored_key",
        ),
        (
            auth(
                "[[realm.auth.cryptosign]]\nauthid = \"a\"\nrole = \"user\"\nauthorized_keys = []",
            ),
            "realm[0].auth.cryptosign[0].authorized_keys",
        ),
        (
            auth(
                "[[realm.auth.cryptosign]]\nauthid = \"a\"\nrole = \"user\"\nauthorized_keys = [\"abc\"]",
            ),
            "realm[0].auth.cryptosign[0].authorized_keys[0]",
        ),
        (
            format!("{REALM}[[realm.role]]\nname = \"user\"\n"),
            "realm[0].role",
        ),
        (
            format!(
                "{REALM}[[realm.role]]\nname = \"anonymous\"\n[[realm.role]]\nname = \"anonymous\"\n"
            ),
            "realm[0].role[1].name",
        ),
        (
            format!(
                "{REALM}[[realm.role]]\nname = \"anonymous\"\n[[realm.role.permission]]\nuri = \"a\"\nmatch = \"regex\"\n"
            ),
            "realm[0].role[0].permission[0].match",
        ),
        (
            format!(
                "{REALM}[[realm.role]]\nname = \"anonymous\"\n[[realm.role.permission]]\nuri = \"a..b\"\n"
            ),
            "realm[0].role[0].permission[0].uri",
        ),
    ];
    for (text, key) in cases {
        assert_eq!(key_of(&text), key, "for\n{text}");
    }
}

#[test]
fn unknown_auth_keys_are_toml_errors() {
    let text =
        format!("{REALM}[[realm.auth.ticket]]\nauthid = \"a\"\ntiket = \"t\"\nrole = \"user\"\n");
    let err = Config::from_toml_str(&text).unwrap_err();
    assert!(matches!(err, ConfigError::Toml(_)));
    assert!(err.to_string().contains("tiket"), "{err}");
    let text = format!("{REALM}[realm.auth.kerberos]\nrealm = \"x\"\n");
    assert!(
        Config::from_toml_str(&text)
            .unwrap_err()
            .to_string()
            .contains("kerberos")
    );
}

#[test]
fn listener_mistakes_name_their_key() {
    let cases = [
        (
            "[[listen]]\nbind = \"127.0.0.1:0\"\nunix = \"/tmp/x.sock\"\n",
            "listen[0].unix",
        ),
        ("[[listen]]\nunix = \"\"\n", "listen[0].unix"),
        (
            "[[listen]]\nunix = \"/tmp/a.sock\"\n[[listen]]\nunix = \"/tmp/a.sock\"\n",
            "listen[1].unix",
        ),
        (
            "[[listen]]\nbind = \"127.0.0.1:0\"\nmax_message_size = 0\n",
            "listen[0].max_message_size",
        ),
        (
            "[[listen]]\nbind = \"127.0.0.1:0\"\nmax_message_size = 99999999999\n",
            "listen[0].max_message_size",
        ),
        (
            "[[listen]]\nbind = \"127.0.0.1:0\"\n[listen.tls]\ncert_chain = \"\"\nkey = \"k.pem\"\n",
            "listen[0].tls.cert_chain",
        ),
    ];
    for (listen, key) in cases {
        assert_eq!(key_of(&format!("{listen}{REALM}")), key, "for {listen}");
    }
}

#[test]
fn unix_and_tls_listeners_parse() {
    let config = Config::from_toml_str(&format!(
        "[[listen]]\nbind = \"127.0.0.1:0\"\n[listen.tls]\ncert_chain = \"c.pem\"\nkey = \"k.pem\"\n\
         [[listen]]\nunix = \"/tmp/sb.sock\"\nserializers = [\"cbor\"]\nmax_message_size = 4096\n{REALM}"
    ))
    .unwrap();
    assert_eq!(config.listen.len(), 1);
    let tls = config.listen[0].tls.as_ref().unwrap();
    assert_eq!(tls.cert_chain, Path::new("c.pem"));
    assert_eq!(tls.key, Path::new("k.pem"));
    assert_eq!(config.unix_listen.len(), 1);
    assert_eq!(config.unix_listen[0].path, Path::new("/tmp/sb.sock"));
    assert_eq!(config.unix_listen[0].max_message_size.unwrap().get(), 4096);
}

#[test]
fn limits_parse_and_zero_is_rejected_by_name() {
    let config = Config::from_toml_str(&format!(
        "[limits]\nmax_sessions_per_authid = 3\nmax_registrations_per_session = 4\n\
         max_subscriptions_per_session = 5\nmax_pending_calls_per_session = 6\n\
         idle_timeout_ms = 7000\nping_interval_ms = 800\n{REALM}"
    ))
    .unwrap();
    let l = &config.limits;
    assert_eq!(l.max_sessions_per_authid.unwrap().get(), 3);
    assert_eq!(l.max_registrations_per_session.get(), 4);
    assert_eq!(l.max_subscriptions_per_session.get(), 5);
    assert_eq!(l.max_pending_calls_per_session.get(), 6);
    assert_eq!(l.idle_timeout, Some(Duration::from_secs(7)));
    let ping = l.ping.unwrap();
    assert_eq!(ping.interval, Duration::from_millis(800));
    assert_eq!(
        ping.timeout,
        Duration::from_millis(800),
        "defaults to the interval"
    );

    for key in [
        "max_sessions_per_authid",
        "max_registrations_per_session",
        "max_subscriptions_per_session",
        "max_pending_calls_per_session",
        "idle_timeout_ms",
        "ping_interval_ms",
    ] {
        assert_eq!(
            key_of(&format!("[limits]\n{key} = 0\n{REALM}")),
            format!("limits.{key}")
        );
    }
    assert_eq!(
        key_of(&format!("[limits]\nping_timeout_ms = 5\n{REALM}")),
        "limits.ping_timeout_ms"
    );
}
