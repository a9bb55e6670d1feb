//! The client subcommands: `call`, `publish`, `subscribe` and `register`, built on
//! `switchboard-client`.
//!
//! ```text
//! switchboard call URI [ARGS]... [--kwarg KEY=VALUE]... [--timeout SECONDS]
//! switchboard publish URI [ARGS]... [--kwarg KEY=VALUE]... [--acknowledge]
//! switchboard subscribe URI [--match exact|prefix|wildcard]
//! switchboard register URI (--echo | --exec COMMAND) [--match ...] [--invoke ...]
//! ```
//!
//! Every command takes the connection flags of [`ConnectArgs`] (`--url`, `--realm`,
//! `--serializer`, authentication), each also read from a `SWITCHBOARD_*` environment variable.
//! An argument (or a `--kwarg` value) that parses as JSON is that JSON value, anything else is
//! a string. Results and events are printed to stdout as JSON, one document per line; errors go
//! to stderr and make the program exit with a non-zero code.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{ArgGroup, Args, ValueEnum};
use futures_util::StreamExt as _;
use serde_json::Value as Json;
use switchboard_client::{
    ApplicationError, Auth, CallError, CallOptions, CallOutput, ChallengeHandler, ConnectOptions,
    DEFAULT_REALM, DEFAULT_URL, Dict, Format, HandlerResult, Invocation, InvokePolicy, MatchPolicy,
    PublishError, PublishOptions, RegisterOptions, Session, SubscribeOptions, Value,
};

/// The error URI a `register --exec` callee answers with when its command fails.
pub const COMMAND_FAILED: &str = "switchboard.error.command_failed";

/// Where to connect and how to authenticate. At most one of `--ticket`, `--secret`,
/// `--password` and `--private-key` may be given; with none the session is anonymous.
///
/// An environment variable set to the empty string counts as not set.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Router URL: ws://HOST:PORT/PATH, wss://..., rs://HOST:PORT (or tcp://), unix:///PATH.
    #[arg(long, value_name = "URL", env = "SWITCHBOARD_URL", default_value = DEFAULT_URL)]
    url: String,
    /// Realm to join.
    #[arg(long, value_name = "NAME", env = "SWITCHBOARD_REALM", default_value = DEFAULT_REALM)]
    realm: String,
    /// Serializer: json, msgpack or cbor.
    #[arg(
        long,
        value_name = "FORMAT",
        env = "SWITCHBOARD_SERIALIZER",
        default_value = "json",
        value_parser = parse_serializer
    )]
    serializer: Serializer,
    /// Authentication id (user name).
    #[arg(long, value_name = "ID", env = "SWITCHBOARD_AUTHID")]
    authid: Option<String>,
    /// Authenticate with a ticket (sent in clear: use TLS).
    #[arg(
        long,
        value_name = "TICKET",
        env = "SWITCHBOARD_TICKET",
        hide_env_values = true
    )]
    ticket: Option<String>,
    /// Authenticate with WAMP-CRA and this shared secret.
    #[arg(
        long,
        value_name = "SECRET",
        env = "SWITCHBOARD_SECRET",
        hide_env_values = true
    )]
    secret: Option<String>,
    /// Authenticate with WAMP-SCRAM and this password.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "SWITCHBOARD_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// Which SCRAM to speak with --password: `spec` (wamp-scram) or `autobahn` (scram, as
    /// Crossbar.io and Autobahn speak it).
    #[arg(long, value_enum, value_name = "VARIANT", default_value_t = ScramVariant::Spec)]
    scram_variant: ScramVariant,
    /// Authenticate with WAMP-Cryptosign and this Ed25519 private key (32-byte seed, hex).
    #[arg(
        long,
        value_name = "HEX",
        env = "SWITCHBOARD_PRIVATE_KEY",
        hide_env_values = true
    )]
    private_key: Option<String>,
}

/// `--serializer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serializer {
    /// JSON.
    Json,
    /// MessagePack.
    Msgpack,
    /// CBOR.
    Cbor,
}

/// `--scram-variant`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScramVariant {
    /// `wamp-scram`, as the WAMP specification describes it.
    Spec,
    /// `scram`, as Autobahn and Crossbar.io speak it.
    Autobahn,
}

/// `--match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Match {
    /// The URI itself.
    Exact,
    /// Every URI starting with it.
    Prefix,
    /// Empty URI components match any one component (`com..update`).
    Wildcard,
}

impl From<Match> for MatchPolicy {
    fn from(m: Match) -> MatchPolicy {
        match m {
            Match::Exact => MatchPolicy::Exact,
            Match::Prefix => MatchPolicy::Prefix,
            Match::Wildcard => MatchPolicy::Wildcard,
        }
    }
}

/// `--invoke`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Invoke {
    /// Only this callee may register the procedure.
    Single,
    /// Shared registration: each callee in turn.
    Roundrobin,
    /// Shared registration: a random callee.
    Random,
    /// Shared registration: the first callee that registered.
    First,
    /// Shared registration: the last callee that registered.
    Last,
}

impl From<Invoke> for InvokePolicy {
    fn from(i: Invoke) -> InvokePolicy {
        match i {
            Invoke::Single => InvokePolicy::Single,
            Invoke::Roundrobin => InvokePolicy::RoundRobin,
            Invoke::Random => InvokePolicy::Random,
            Invoke::First => InvokePolicy::First,
            Invoke::Last => InvokePolicy::Last,
        }
    }
}

/// `switchboard call`.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct CallArgs {
    /// Procedure URI.
    #[arg(value_name = "URI")]
    procedure: String,
    /// Positional arguments: JSON if the text parses as JSON, else a string.
    #[arg(value_name = "ARGS")]
    args: Vec<String>,
    /// A keyword argument (repeatable); VALUE is JSON if it parses as JSON, else a string.
    #[arg(long = "kwarg", value_name = "KEY=VALUE", value_parser = parse_kwarg)]
    kwargs: Vec<(String, Json)>,
    /// Give up (and cancel the call) when no result arrives within this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// `switchboard publish`.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct PublishArgs {
    /// Topic URI.
    #[arg(value_name = "URI")]
    topic: String,
    /// Positional arguments: JSON if the text parses as JSON, else a string.
    #[arg(value_name = "ARGS")]
    args: Vec<String>,
    /// A keyword argument (repeatable); VALUE is JSON if it parses as JSON, else a string.
    #[arg(long = "kwarg", value_name = "KEY=VALUE", value_parser = parse_kwarg)]
    kwargs: Vec<(String, Json)>,
    /// Wait for the router to acknowledge the publication and print its id.
    #[arg(long)]
    acknowledge: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// `switchboard subscribe`.
#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// Topic URI (or pattern, with --match).
    #[arg(value_name = "URI")]
    topic: String,
    /// How the topic is matched.
    #[arg(long = "match", value_enum, value_name = "POLICY", default_value_t = Match::Exact)]
    match_policy: Match,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// `switchboard register`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("answer").required(true).args(["echo", "exec"])))]
pub struct RegisterArgs {
    /// Procedure URI (or pattern, with --match).
    #[arg(value_name = "URI")]
    procedure: String,
    /// Answer each call with its own positional and keyword arguments.
    #[arg(long)]
    echo: bool,
    /// Answer each call by running COMMAND with `sh -c`: the call's positional arguments go to
    /// its stdin as a JSON array, its keyword arguments to $SWITCHBOARD_KWARGS (a JSON object)
    /// and the procedure called to $SWITCHBOARD_PROCEDURE. Its stdout is the result (JSON if
    /// it parses as JSON, else a string; nothing if empty); a non-zero exit is an error
    /// switchboard.error.command_failed carrying its stderr.
    #[arg(long, value_name = "COMMAND")]
    exec: Option<String>,
    /// How the procedure URI is matched.
    #[arg(long = "match", value_enum, value_name = "POLICY", default_value_t = Match::Exact)]
    match_policy: Match,
    /// Invocation policy (anything but `single` makes a shared registration).
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = Invoke::Single)]
    invoke: Invoke,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Parses a command-line value: JSON if it is JSON, else the text as a string.
pub fn parse_value(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned()))
}

/// `--serializer`; empty (an empty `SWITCHBOARD_SERIALIZER`) means the default, JSON.
fn parse_serializer(text: &str) -> Result<Serializer, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "json" => Ok(Serializer::Json),
        "msgpack" | "messagepack" => Ok(Serializer::Msgpack),
        "cbor" => Ok(Serializer::Cbor),
        _ => Err(format!("expected json, msgpack or cbor, got {text:?}")),
    }
}

fn parse_kwarg(text: &str) -> Result<(String, Json), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), parse_value(value))),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("expected a positive number of seconds, got {text:?}"))
}

fn positional(args: &[String]) -> Vec<Json> {
    args.iter().map(|a| parse_value(a)).collect()
}

fn keywords(kwargs: &[(String, Json)]) -> BTreeMap<String, Json> {
    kwargs.iter().cloned().collect()
}

/// A flag's value, `None` when absent or empty.
fn given(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

impl ConnectArgs {
    fn auth(&self) -> anyhow::Result<Auth> {
        let ticket = given(self.ticket.as_ref());
        let secret = given(self.secret.as_ref());
        let password = given(self.password.as_ref());
        let private_key = given(self.private_key.as_ref());
        let authid = given(self.authid.as_ref());
        let credentials = [ticket, secret, password, private_key];
        if credentials.iter().flatten().count() > 1 {
            bail!(
                "give only one of --ticket, --secret, --password and --private-key (or of \
                 SWITCHBOARD_TICKET, SWITCHBOARD_SECRET, SWITCHBOARD_PASSWORD and \
                 SWITCHBOARD_PRIVATE_KEY)"
            );
        }
        let need_authid = |method: &str| -> anyhow::Result<String> {
            authid
                .map(ToOwned::to_owned)
                .ok_or_else(|| anyhow!("{method} authentication needs --authid"))
        };
        Ok(if let Some(ticket) = ticket {
            Auth::Ticket {
                authid: need_authid("ticket")?,
                ticket: ticket.to_owned(),
            }
        } else if let Some(secret) = secret {
            Auth::WampCra {
                authid: need_authid("WAMP-CRA")?,
                secret: secret.to_owned(),
            }
        } else if let Some(password) = password {
            let authid = need_authid("SCRAM")?;
            let password = password.to_owned();
            match self.scram_variant {
                ScramVariant::Spec => Auth::Scram { authid, password },
                ScramVariant::Autobahn => Auth::ScramAutobahn { authid, password },
            }
        } else if let Some(key) = private_key {
            Auth::Cryptosign {
                authid: authid.unwrap_or_default().to_owned(),
                private_key_hex: key.trim().to_owned(),
            }
        } else if let Some(authid) = authid {
            // Anonymous, asking for an authid: the router may or may not grant it.
            let on_challenge: ChallengeHandler = Arc::new(|method: &str, _extra: &Dict| {
                Err(format!(
                    "the router asked for {method} authentication; give --ticket, --secret, \
                     --password or --private-key"
                ))
            });
            Auth::Custom {
                authmethods: vec!["anonymous".to_owned()],
                authid: Some(authid.to_owned()),
                authextra: Dict::new(),
                on_challenge,
            }
        } else {
            Auth::Anonymous
        })
    }

    fn options(&self) -> anyhow::Result<ConnectOptions> {
        let serializer = match self.serializer {
            Serializer::Json => Format::Json,
            Serializer::Msgpack => Format::MessagePack,
            Serializer::Cbor => Format::Cbor,
        };
        let url = given(Some(&self.url)).unwrap_or(DEFAULT_URL);
        let realm = given(Some(&self.realm)).unwrap_or(DEFAULT_REALM);
        Ok(ConnectOptions::new(url, realm)
            .serializer(serializer)
            .auth(self.auth()?))
    }

    async fn connect(&self) -> anyhow::Result<Session> {
        let options = self.options()?;
        let what = format!("cannot join realm {} at {}", options.realm, options.url);
        Session::connect(options).await.context(what)
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, listened for from the moment this is created.
struct StopSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn install() -> anyhow::Result<StopSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignal {
                interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignal {})
        }
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Installs a logger for the client commands: warnings (or `RUST_LOG`) to stderr.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Writes one line to stdout and flushes.
fn print_line(line: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")
}

/// A status message on stderr (stdout carries only JSON).
fn note(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
    let _ = stderr.flush();
}

fn json_error(e: serde_json::Error) -> anyhow::Error {
    anyhow!(e).context("cannot render the payload as JSON")
}

/// A call's output: the single value for one positional result and no keyword results, else
/// `{"args": [...], "kwargs": {...}}`.
pub fn result_json(args: &[Value], kwargs: &Dict) -> anyhow::Result<String> {
    match (args, kwargs.is_empty()) {
        ([single], true) => serde_json::to_string(single).map_err(json_error),
        _ => Ok(format!(
            "{{\"args\":{},\"kwargs\":{}}}",
            serde_json::to_string(args).map_err(json_error)?,
            serde_json::to_string(kwargs).map_err(json_error)?
        )),
    }
}

/// `URI: message`, then the remaining positional and keyword arguments as JSON on their own
/// lines.
fn describe_application(e: &ApplicationError) -> String {
    let mut out = e.uri.clone();
    let mut args = e.args.as_slice();
    if let Some((Value::Str(message), rest)) = args.split_first() {
        out.push_str(": ");
        out.push_str(message);
        args = rest;
    }
    if !args.is_empty() {
        out.push_str("\n  args: ");
        out.push_str(&serde_json::to_string(args).unwrap_or_else(|_| format!("{args:?}")));
    }
    if !e.kwargs.is_empty() {
        out.push_str("\n  kwargs: ");
        let kwargs = &e.kwargs;
        out.push_str(&serde_json::to_string(kwargs).unwrap_or_else(|_| format!("{kwargs:?}")));
    }
    out
}

fn call_error(procedure: &str, e: &CallError) -> anyhow::Error {
    let what = match e {
        CallError::Application(a) | CallError::NotAuthorized(a) => describe_application(a),
        CallError::NoSuchProcedure { procedure } => {
            format!("wamp.error.no_such_procedure: no procedure is registered as {procedure}")
        }
        CallError::Timeout => "wamp.error.timeout: no result in time".to_owned(),
        CallError::Canceled => "wamp.error.canceled: the call was canceled".to_owned(),
        CallError::InvalidUri(m) => format!("wamp.error.invalid_uri: {m}"),
        other => other.to_string(),
    };
    anyhow!("call {procedure} failed: {what}")
}

fn publish_error(topic: &str, e: &PublishError) -> anyhow::Error {
    let what = match e {
        PublishError::NotAuthorized(a) | PublishError::Router(a) => describe_application(a),
        PublishError::InvalidUri(m) => format!("wamp.error.invalid_uri: {m}"),
        other => other.to_string(),
    };
    anyhow!("publish to {topic} failed: {what}")
}

/// Why a session ended unexpectedly.
async fn session_ended(session: &Session) -> anyhow::Error {
    let info = session.closed().await;
    match info.message {
        Some(m) => anyhow!("the session ended: {}: {m}", info.reason),
        None => anyhow!("the session ended: {}", info.reason),
    }
}

/// Leaves the session; a failure to say GOODBYE is reported but does not change the outcome.
async fn leave(session: &Session) {
    if let Err(e) = session.leave().await {
        tracing::debug!("leaving the session: {e}");
    }
}

/// `switchboard call`.
pub async fn call(args: CallArgs) -> anyhow::Result<()> {
    init_logging();
    let session = args.connect.connect().await?;
    let mut options = CallOptions::new();
    if let Some(timeout) = args.timeout {
        options = options.timeout(timeout);
    }
    let outcome = session
        .call_with(
            &args.procedure,
            positional(&args.args),
            keywords(&args.kwargs),
            options,
        )
        .await;
    leave(&session).await;
    let result = outcome.map_err(|e| call_error(&args.procedure, &e))?;
    print_line(&result_json(&result.args, &result.kwargs)?)
}

/// `switchboard publish`.
pub async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    init_logging();
    let session = args.connect.connect().await?;
    let outcome = session
        .publish(
            &args.topic,
            positional(&args.args),
            keywords(&args.kwargs),
            PublishOptions::new().acknowledge(args.acknowledge),
        )
        .await;
    // Leaving also makes sure an unacknowledged event went out before the connection closes.
    leave(&session).await;
    match outcome.map_err(|e| publish_error(&args.topic, &e))? {
        Some(publication) => print_line(&format!("{{\"publication\":{}}}", publication.get())),
        None => Ok(()),
    }
}

/// One event as a JSON line: `{"topic":…,"args":[…],"kwargs":{…},"publisher":…}`.
pub fn event_json(event: &switchboard_client::Event) -> anyhow::Result<String> {
    let publisher = event
        .publisher()
        .map_or_else(|| "null".to_owned(), |id| id.get().to_string());
    Ok(format!(
        "{{\"topic\":{},\"args\":{},\"kwargs\":{},\"publisher\":{publisher}}}",
        serde_json::to_string(&event.topic).map_err(json_error)?,
        serde_json::to_string(&event.args).map_err(json_error)?,
        serde_json::to_string(&event.kwargs).map_err(json_error)?,
    ))
}

/// Connects, unless a stop signal comes first (`None`).
async fn connect_or_stop(
    connect: &ConnectArgs,
    stop: &mut StopSignal,
) -> anyhow::Result<Option<Session>> {
    tokio::select! {
        session = connect.connect() => session.map(Some),
        () = stop.wait() => Ok(None),
    }
}

/// `switchboard subscribe`: prints every event as a JSON line until SIGINT or SIGTERM.
pub async fn subscribe(args: SubscribeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut stop = StopSignal::install()?;
    let Some(session) = connect_or_stop(&args.connect, &mut stop).await? else {
        return Ok(());
    };
    let options = SubscribeOptions::new().match_policy(args.match_policy.into());
    let mut events = session
        .subscribe_stream(&args.topic, options)
        .await
        .with_context(|| format!("cannot subscribe to {}", args.topic))?;
    note(&format!(
        "subscribed to {} (session {}); stop with Ctrl-C",
        args.topic,
        session.id()
    ));
    loop {
        tokio::select! {
            () = stop.wait() => break,
            event = events.next() => match event {
                Some(event) => print_line(&event_json(&event)?)?,
                None => return Err(session_ended(&session).await),
            },
        }
    }
    drop(events);
    session
        .leave()
        .await
        .context("cannot leave the session cleanly")?;
    Ok(())
}

/// How `register` answers calls.
#[derive(Debug)]
enum Answer {
    Echo,
    Exec(Arc<str>),
}

/// `switchboard register`: answers calls until SIGINT or SIGTERM.
pub async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    init_logging();
    let answer = match &args.exec {
        Some(command) => Answer::Exec(Arc::from(command.as_str())),
        None => Answer::Echo,
    };
    let answer = Arc::new(answer);
    let mut stop = StopSignal::install()?;
    let Some(session) = connect_or_stop(&args.connect, &mut stop).await? else {
        return Ok(());
    };
    let options = RegisterOptions::new()
        .match_policy(args.match_policy.into())
        .invoke(args.invoke.into());
    let registration = session
        .register_with(&args.procedure, options, move |inv| {
            let answer = Arc::clone(&answer);
            async move {
                match &*answer {
                    Answer::Echo => Ok(CallOutput::from_values(
                        inv.args().to_vec(),
                        inv.kwargs().clone(),
                    )),
                    Answer::Exec(command) => exec(command, &inv).await,
                }
            }
        })
        .await
        .with_context(|| format!("cannot register {}", args.procedure))?;
    note(&format!(
        "registered {} (session {}); stop with Ctrl-C",
        args.procedure,
        session.id()
    ));
    tokio::select! {
        () = stop.wait() => {}
        _ = session.closed() => return Err(session_ended(&session).await),
    }
    drop(registration);
    session
        .leave()
        .await
        .context("cannot leave the session cleanly")?;
    Ok(())
}

/// A command run for an invocation. If it is dropped before the command finished (the
/// invocation was interrupted, or the program is stopping), the command is killed with
/// everything it started (on Unix it runs in its own process group) and reaped.
struct CommandGuard {
    child: std::process::Child,
    finished: bool,
}

impl Drop for CommandGuard {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        #[cfg(unix)]
        {
            // The shell's `kill` reaches the whole group, including commands started in the
            // background that would otherwise keep the output pipes open.
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("kill -KILL -{} 2>/dev/null", self.child.id()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads a pipe to its end on a blocking thread.
fn read_all(
    pipe: Option<impl Read + Send + 'static>,
) -> tokio::task::JoinHandle<io::Result<Vec<u8>>> {
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut out)?;
        }
        Ok(out)
    })
}

/// Answers one invocation by running `command` (see [`RegisterArgs::exec`]).
async fn exec(command: &str, inv: &Invocation) -> HandlerResult {
    let runtime = |what: &str, e: &dyn std::fmt::Display| {
        ApplicationError::runtime_error(format!("{what}: {e}"))
    };
    let stdin_json = serde_json::to_vec(inv.args())
        .map_err(|e| runtime("cannot render the arguments as JSON", &e))?;
    let kwargs_json = serde_json::to_string(inv.kwargs())
        .map_err(|e| runtime("cannot render the keyword arguments as JSON", &e))?;
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(command)
        .env("SWITCHBOARD_PROCEDURE", inv.procedure())
        .env("SWITCHBOARD_KWARGS", kwargs_json)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut sh, 0);
    let child = sh
        .spawn()
        .map_err(|e| runtime("cannot start the command", &e))?;
    let mut guard = CommandGuard {
        child,
        finished: false,
    };
    let stdin = guard.child.stdin.take();
    let writer = tokio::task::spawn_blocking(move || {
        if let Some(mut stdin) = stdin {
            // A command that does not read its input is fine: ignore the broken pipe.
            let _ = stdin
                .write_all(&stdin_json)
                .and_then(|()| stdin.write_all(b"\n"));
        }
    });
    let stdout = read_all(guard.child.stdout.take());
    let stderr = read_all(guard.child.stderr.take());
    let joined = |r: Result<io::Result<Vec<u8>>, tokio::task::JoinError>| match r {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(runtime("cannot read the command's output", &e)),
        Err(e) => Err(runtime("cannot read the command's output", &e)),
    };
    let stdout = joined(stdout.await)?;
    let stderr = joined(stderr.await)?;
    let _ = writer.await;
    // Both pipes are closed, so the command has (almost always) exited; poll for its status.
    let mut delay = Duration::from_millis(1);
    let status = loop {
        match guard.child.try_wait() {
            Ok(Some(status)) => {
                guard.finished = true;
                break status;
            }
            Ok(None) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(runtime("cannot wait for the command", &e)),
        }
    };
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        let message = match stderr.trim() {
            "" => format!("the command failed ({status})"),
            text => text.to_owned(),
        };
        return Err(ApplicationError::new(COMMAND_FAILED)
            .with_arg(message)
            .with_kwarg("exit_code", status.code()));
    }
    Ok(command_output(&stdout))
}

/// A command's stdout as a call result: JSON if it parses, else the text without its final
/// line break; no result if it is empty.
pub fn command_output(stdout: &[u8]) -> CallOutput {
    let text = String::from_utf8_lossy(stdout);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return CallOutput::new();
    }
    match serde_json::from_str::<Json>(text) {
        Ok(value) => CallOutput::value(value),
        Err(_) => CallOutput::value(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_json_when_they_parse() {
        assert_eq!(parse_value("5"), json!(5));
        assert_eq!(parse_value("-2.5"), json!(-2.5));
        assert_eq!(parse_value("true"), json!(true));
        assert_eq!(parse_value("null"), json!(null));
        assert_eq!(parse_value("[1, \"a\"]"), json!([1, "a"]));
        assert_eq!(parse_value("{\"a\": {}}"), json!({"a": {}}));
        assert_eq!(parse_value("\"quoted\""), json!("quoted"));
        assert_eq!(parse_value("hello"), json!("hello"));
        assert_eq!(parse_value("hello world"), json!("hello world"));
        assert_eq!(parse_value(""), json!(""));
        assert_eq!(parse_value("{broken"), json!("{broken"));
    }

    #[test]
    fn kwargs_split_at_the_first_equals_sign() {
        assert_eq!(parse_kwarg("n=3"), Ok(("n".to_owned(), json!(3))));
        assert_eq!(parse_kwarg("q=a=b"), Ok(("q".to_owned(), json!("a=b"))));
        assert_eq!(parse_kwarg("e="), Ok(("e".to_owned(), json!(""))));
        assert!(parse_kwarg("novalue").is_err());
        assert!(parse_kwarg("=3").is_err());
    }

    #[test]
    fn serializer_names_and_empty_means_json() {
        assert_eq!(parse_serializer(""), Ok(Serializer::Json));
        assert_eq!(parse_serializer("json"), Ok(Serializer::Json));
        assert_eq!(parse_serializer("MsgPack"), Ok(Serializer::Msgpack));
        assert_eq!(parse_serializer("cbor"), Ok(Serializer::Cbor));
        assert!(parse_serializer("xml").is_err());
    }

    #[test]
    fn seconds_must_be_positive() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn one_result_prints_alone_else_args_and_kwargs() {
        let mut kwargs = Dict::new();
        assert_eq!(
            result_json(&[Value::UInt(5)], &kwargs).ok(),
            Some("5".into())
        );
        assert_eq!(
            result_json(&[], &kwargs).ok(),
            Some(r#"{"args":[],"kwargs":{}}"#.into())
        );
        assert_eq!(
            result_json(&[Value::UInt(1), Value::Str("b".into())], &kwargs).ok(),
            Some(r#"{"args":[1,"b"],"kwargs":{}}"#.into())
        );
        kwargs.insert("k".into(), Value::Bool(true));
        assert_eq!(
            result_json(&[Value::UInt(5)], &kwargs).ok(),
            Some(r#"{"args":[5],"kwargs":{"k":true}}"#.into())
        );
    }

    #[test]
    fn command_output_is_json_or_text() {
        let one = |v: Value| CallOutput::from_values(vec![v], Dict::new());
        let text = |s: &str| one(Value::Str(s.to_owned()));
        assert_eq!(command_output(b"42\n"), one(Value::UInt(42)));
        assert_eq!(
            command_output(b"{\"a\": [1]}"),
            one(Value::Dict(
                [("a".to_owned(), Value::List(vec![Value::UInt(1)]))].into()
            ))
        );
        assert_eq!(command_output(b"hello\n"), text("hello"));
        assert_eq!(command_output(b"two\nlines\r\n"), text("two\nlines"));
        assert_eq!(command_output(b""), CallOutput::new());
        assert_eq!(command_output(b"\n"), CallOutput::new());
        assert_eq!(command_output(b" \n"), text(" "));
    }
}
