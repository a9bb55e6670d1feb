#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The client subcommands (`call`, `publish`, `subscribe`, `register`) end to end: the built
//! binary against an in-process router on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_router::config::Config;
use switchboard_router::server::Server;

/// How long any single wait may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A router on a free loopback port, served by its own runtime until dropped.
struct Router {
    url: String,
    rs_url: String,
    _runtime: tokio::runtime::Runtime,
}

fn router() -> Router {
    router_with(
        "[router]\nauto_realms = true\n[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n",
    )
}

/// A router from a whole TOML config (its first listener on 127.0.0.1:0).
fn router_with(toml: &str) -> Router {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = Config::from_toml_str(toml).unwrap();
    let server = runtime.block_on(Server::bind(&config)).unwrap();
    let addr = server.local_addrs()[0];
    runtime.spawn(server.run_until(std::future::pending()));
    Router {
        url: format!("ws://{addr}/ws"),
        rs_url: format!("rs://{addr}"),
        _runtime: runtime,
    }
}

/// The binary with `args`, connecting to `url`, with no SWITCHBOARD_* or RUST_LOG variables
/// inherited.
fn switchboard(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SWITCHBOARD_") {
            command.env_remove(key);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env("SWITCHBOARD_URL", url)
        .args(args)
        .stdin(Stdio::null());
    command
}

fn run(url: &str, args: &[&str]) -> Output {
    let output = switchboard(url, args).output().unwrap();
    assert_no_panic(&output.stderr, output.status.code());
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_panic(stderr: &[u8], code: Option<i32>) {
    let stderr = text(stderr);
    assert!(!stderr.contains("panicked"), "panic in stderr: {stderr}");
    assert_ne!(code, Some(101), "exit code of a panic");
}

/// Stdout of a successful run, parsed as one JSON document.
fn json_output(output: &Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {output:?}"))
}

/// A long-running command (`subscribe`, `register`) whose output lines are collected by
/// threads, so the test can wait for a line without blocking forever.
struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
}

fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    /// Starts `args` and waits for its stderr line announcing it is ready
    /// (`registered …` / `subscribed …`).
    fn start(url: &str, args: &[&str], ready: &str) -> Running {
        let mut child = switchboard(url, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let mut running = Running {
            child,
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match running.stderr.recv_timeout(left) {
                Ok(line) => {
                    let done = line.starts_with(ready);
                    running.stderr_seen.push(line);
                    if done {
                        return running;
                    }
                }
                Err(_) => panic!(
                    "{args:?} did not print {ready:?}; stderr so far: {:?}; status {:?}",
                    running.stderr_seen,
                    running.child.try_wait()
                ),
            }
        }
    }

    fn next_stdout_line(&self) -> String {
        self.stdout
            .recv_timeout(TIMEOUT)
            .expect("no line on stdout in time")
    }

    /// Sends SIGTERM and returns the exit code and the remaining stdout and stderr lines.
    fn terminate(mut self) -> (Option<i32>, Vec<String>, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the command did not exit after SIGTERM");
            }
            thread::sleep(Duration::from_millis(20));
        };
        let rest = |rx: &mpsc::Receiver<String>| {
            let mut out = Vec::new();
            while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
                out.push(line);
            }
            out
        };
        let stdout = rest(&self.stdout);
        let mut stderr = std::mem::take(&mut self.stderr_seen);
        stderr.extend(rest(&self.stderr));
        assert_no_panic(stderr.join("\n").as_bytes(), status.code());
        (status.code(), stdout, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn register_echo_answers_calls_with_their_arguments() {
    let router = router();
    let callee = Running::start(
        &router.url,
        &["register", "com.example.echo", "--echo"],
        "registered",
    );

    // One positional argument and no keywords: printed as the bare value.
    let output = run(&router.url, &["call", "com.example.echo", "42"]);
    assert_eq!(json_output(&output), json!(42));
    let output = run(&router.url, &["call", "com.example.echo", "hello world"]);
    assert_eq!(json_output(&output), json!("hello world"));
    let output = run(&router.url, &["call", "com.example.echo", "-7"]);
    assert_eq!(json_output(&output), json!(-7));

    // Anything else: {"args": ..., "kwargs": ...}; JSON where it parses, strings elsewhere.
    let output = run(
        &router.url,
        &[
            "call",
            "com.example.echo",
            "1",
            "two",
            "{\"three\": [3]}",
            "null",
            "--kwarg",
            "n=2.5",
            "--kwarg",
            "s=a=b",
        ],
    );
    assert_eq!(
        json_output(&output),
        json!({"args": [1, "two", {"three": [3]}, null], "kwargs": {"n": 2.5, "s": "a=b"}})
    );
    let output = run(&router.url, &["call", "com.example.echo"]);
    assert_eq!(json_output(&output), json!({"args": [], "kwargs": {}}));

    // Every serializer and both transports.
    for serializer in ["json", "msgpack", "cbor"] {
        for url in [&router.url, &router.rs_url] {
            let output = run(
                url,
                &[
                    "call",
                    "com.example.echo",
                    "[1, \"x\"]",
                    "--serializer",
                    serializer,
                ],
            );
            assert_eq!(json_output(&output), json!([1, "x"]), "{serializer} {url}");
        }
    }
    // The serializer from the environment.
    let output = switchboard(&router.url, &["call", "com.example.echo", "true"])
        .env("SWITCHBOARD_SERIALIZER", "cbor")
        .output()
        .unwrap();
    assert_eq!(json_output(&output), json!(true));

    let (code, _, stderr) = callee.terminate();
    assert_eq!(code, Some(0), "{stderr:?}");
}

#[test]
fn register_exec_answers_with_the_commands_output() {
    let router = router();
    // Sums its arguments with the shell: stdin is the JSON array of the call's arguments.
    let sum = Running::start(
        &router.url,
        &[
            "register",
            "com.example.sum",
            "--exec",
            "expr=$(tr -cd '0-9,' | tr , +); echo $(($expr))",
        ],
        "registered",
    );
    let output = run(&router.url, &["call", "com.example.sum", "1", "2", "39"]);
    assert_eq!(json_output(&output), json!(42));

    // Text that is not JSON is a string; keyword arguments and the procedure are in the
    // environment.
    let text_callee = Running::start(
        &router.url,
        &[
            "register",
            "com.example.text",
            "--exec",
            "cat >/dev/null; echo \"$SWITCHBOARD_PROCEDURE got $SWITCHBOARD_KWARGS\"",
            "--serializer",
            "msgpack",
        ],
        "registered",
    );
    let output = run(
        &router.url,
        &["call", "com.example.text", "--kwarg", "who=me"],
    );
    assert_eq!(
        json_output(&output),
        json!("com.example.text got {\"who\":\"me\"}")
    );

    // A non-zero exit is an application error carrying the command's stderr.
    let failing = Running::start(
        &router.url,
        &[
            "register",
            "com.example.fail",
            "--exec",
            "echo 'disk on fire' >&2; exit 3",
        ],
        "registered",
    );
    let output = run(&router.url, &["call", "com.example.fail"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("switchboard.error.command_failed: disk on fire"),
        "{stderr}"
    );
    assert!(stderr.contains("\"exit_code\":3"), "{stderr}");

    for running in [sum, text_callee, failing] {
        let (code, _, stderr) = running.terminate();
        assert_eq!(code, Some(0), "{stderr:?}");
    }
}

#[test]
fn subscribe_prints_events_as_json_lines_and_stops_on_sigterm() {
    let router = router();
    let subscriber = Running::start(
        &router.url,
        &["subscribe", "com.example.topic"],
        "subscribed",
    );
    let prefix = Running::start(
        &router.url,
        &[
            "subscribe",
            "com.example",
            "--match",
            "prefix",
            "--serializer",
            "cbor",
        ],
        "subscribed",
    );

    let output = run(
        &router.url,
        &[
            "publish",
            "com.example.topic",
            "1",
            "two",
            "--kwarg",
            "k={\"v\":true}",
            "--acknowledge",
        ],
    );
    let ack = json_output(&output);
    assert!(ack["publication"].as_u64().is_some(), "{ack}");
    // Without --acknowledge nothing is printed, and the event still goes out.
    let output = run(
        &router.url,
        &[
            "publish",
            "com.example.other",
            "[3]",
            "--serializer",
            "msgpack",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");

    let event: Value = serde_json::from_str(&subscriber.next_stdout_line()).unwrap();
    assert_eq!(
        event,
        json!({"topic": "com.example.topic", "args": [1, "two"], "kwargs": {"k": {"v": true}},
               "publisher": null})
    );
    let first: Value = serde_json::from_str(&prefix.next_stdout_line()).unwrap();
    let second: Value = serde_json::from_str(&prefix.next_stdout_line()).unwrap();
    assert_eq!(first["topic"], "com.example.topic");
    assert_eq!(second["topic"], "com.example.other");
    assert_eq!(second["args"], json!([[3]]));
    assert_eq!(second["kwargs"], json!({}));

    let (code, stdout, stderr) = subscriber.terminate();
    assert_eq!(code, Some(0), "{stderr:?}");
    assert!(stdout.is_empty(), "only the one event: {stdout:?}");
    let (code, _, stderr) = prefix.terminate();
    assert_eq!(code, Some(0), "{stderr:?}");
}

#[test]
fn calling_a_missing_procedure_fails_with_the_error_uri() {
    let router = router();
    let output = run(&router.url, &["call", "com.example.nobody"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("wamp.error.no_such_procedure"), "{stderr}");
    assert!(stderr.contains("com.example.nobody"), "{stderr}");
}

#[test]
fn connection_and_usage_errors_exit_non_zero_without_panicking() {
    let router = router();
    // Nothing listens on port 1.
    let output = run("ws://127.0.0.1:1/ws", &["call", "com.example.x"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).contains("cannot join realm"),
        "{output:?}"
    );

    let output = run(&router.url, &["publish", "not a uri", "--acknowledge"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).contains("wamp.error.invalid_uri"),
        "{output:?}"
    );

    let output = run(&router.url, &["call", "com.example.x", "--ticket", "t"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text(&output.stderr).contains("--authid"), "{output:?}");

    // Usage errors are clap's: exit code 2.
    for args in [
        &["register", "com.example.x"][..],
        &["register", "com.example.x", "--echo", "--exec", "true"],
        &["call", "com.example.x", "--kwarg", "novalue"],
        &["call", "com.example.x", "--serializer", "xml"],
        &["subscribe", "com.example.x", "--match", "regex"],
    ] {
        let output = run(&router.url, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
}

/// Realm `secure`: one principal per authentication method, no anonymous access.
const SECURE: &str = r#"
[[listen]]
bind = "127.0.0.1:0"
[[realm]]
name = "secure"
[[realm.auth.ticket]]
authid = "joe"
ticket = "joe-ticket"
role = "user"
[[realm.auth.wampcra]]
authid = "peter"
secret = "cra-secret"
role = "user"
[[realm.auth.scram]]
authid = "carol"
password = "scram-pass"
kdf = "argon2id13"
iterations = 1
memory = 512
role = "user"
[[realm.auth.cryptosign]]
authid = "alice"
authorized_keys = ["03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"]
role = "user"
[[realm.role]]
name = "user"
[[realm.role.permission]]
uri = ""
match = "prefix"
call = true
register = true
publish = true
subscribe = true
"#;

/// Environment variables and flags for one `call`.
type Attempt<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// The Ed25519 seed whose public key `SECURE` authorizes for alice.
const ALICE_SEED: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn authentication_comes_from_flags_or_the_environment() {
    let router = router_with(SECURE);
    let callee = Running::start(
        &router.url,
        &[
            "register",
            "com.example.whoami",
            "--echo",
            "--realm",
            "secure",
            "--authid",
            "joe",
            "--ticket",
            "joe-ticket",
        ],
        "registered",
    );
    let call = |env: &[(&str, &str)], flags: &[&str]| {
        let mut args = vec!["call", "com.example.whoami", "ok"];
        args.extend_from_slice(flags);
        let mut command = switchboard(&router.url, &args);
        command.env("SWITCHBOARD_REALM", "secure");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert_no_panic(&output.stderr, output.status.code());
        output
    };

    // Each method, from flags and from the environment.
    let accepted: [Attempt; 8] = [
        (&[], &["--authid", "joe", "--ticket", "joe-ticket"]),
        (
            &[
                ("SWITCHBOARD_AUTHID", "joe"),
                ("SWITCHBOARD_TICKET", "joe-ticket"),
            ],
            &[],
        ),
        (&[], &["--authid", "peter", "--secret", "cra-secret"]),
        (
            &[
                ("SWITCHBOARD_AUTHID", "peter"),
                ("SWITCHBOARD_SECRET", "cra-secret"),
            ],
            &["--serializer", "cbor"],
        ),
        (&[], &["--authid", "carol", "--password", "scram-pass"]),
        (
            &[
                ("SWITCHBOARD_AUTHID", "carol"),
                ("SWITCHBOARD_PASSWORD", "scram-pass"),
            ],
            &["--scram-variant", "autobahn"],
        ),
        (&[], &["--authid", "alice", "--private-key", ALICE_SEED]),
        (
            &[("SWITCHBOARD_PRIVATE_KEY", ALICE_SEED)],
            &["--authid", "alice"],
        ),
    ];
    for (env, flags) in accepted {
        let output = call(env, flags);
        assert_eq!(json_output(&output), json!("ok"), "{env:?} {flags:?}");
    }

    // Wrong credentials and anonymous sessions are refused: exit 1, the router's reason.
    let refused: [Attempt; 4] = [
        (&[], &["--authid", "joe", "--ticket", "wrong"]),
        (&[("SWITCHBOARD_SECRET", "wrong")], &["--authid", "peter"]),
        (&[], &["--authid", "carol", "--password", "wrong"]),
        (&[], &[]),
    ];
    for (env, flags) in refused {
        let output = call(env, flags);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{env:?} {flags:?}: {output:?}"
        );
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with("error: cannot join realm secure"),
            "{env:?} {flags:?}: {stderr}"
        );
    }

    // Two credentials at once are refused; an empty variable counts as not set.
    let output = call(&[], &["--authid", "joe", "--ticket", "t", "--secret", "s"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text(&output.stderr).contains("only one of"), "{output:?}");
    let output = call(
        &[
            ("SWITCHBOARD_TICKET", ""),
            ("SWITCHBOARD_SERIALIZER", ""),
            ("SWITCHBOARD_PASSWORD", "scram-pass"),
        ],
        &["--authid", "carol"],
    );
    assert_eq!(json_output(&output), json!("ok"));

    let (code, _, stderr) = callee.terminate();
    assert_eq!(code, Some(0), "{stderr:?}");
}

#[test]
fn an_interrupted_exec_call_kills_the_command_and_its_children() {
    let router = router();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("switchboard-client-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("sleep.pid");
    let _ = std::fs::remove_file(&pidfile);
    // A background child that keeps the output pipe open: only killing the whole process
    // group ends it.
    let script = format!("sleep 60 & echo $! > '{}'; wait", pidfile.display());
    let callee = Running::start(
        &router.url,
        &["register", "com.example.slow", "--exec", &script],
        "registered",
    );
    let started = Instant::now();
    let output = run(&router.url, &["call", "com.example.slow", "--timeout", "1"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).contains("wamp.error.timeout"),
        "{output:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let pid = pid.trim();
    let running = || {
        Command::new("kill")
            .args(["-0", pid])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    let deadline = Instant::now() + TIMEOUT;
    while running() {
        assert!(Instant::now() < deadline, "sleep {pid} is still running");
        thread::sleep(Duration::from_millis(50));
    }
    let (code, _, stderr) = callee.terminate();
    assert_eq!(code, Some(0), "{stderr:?}");
}
