//! The `switchboard` command-line program.
//!
//! ```text
//! switchboard start [--config PATH] [--bind IP] [--port N] [--realm NAME]... [--log FILTER] [-v]...
//! switchboard init [PATH] [--force]
//! switchboard version
//! switchboard call URI [ARGS]... [--kwarg KEY=VALUE]... [--url URL] [--realm NAME] ...
//! switchboard publish URI [ARGS]... [--kwarg KEY=VALUE]... [--acknowledge]
//! switchboard subscribe URI [--match exact|prefix|wildcard]
//! switchboard register URI (--echo | --exec COMMAND)
//! ```

mod client_cmds;

use std::fs::OpenOptions;
use std::io::{self, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use switchboard_router::config::{Config, ConfigError, DEFAULT_TOML};
use switchboard_router::server::{Server, shutdown_signal};
use tracing_subscriber::EnvFilter;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Switchboard: a WAMP router and client.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the router (without --config: the development setup on 127.0.0.1:8080, realm
    /// realm1, anonymous clients allowed everything).
    Start(StartArgs),
    /// Write the commented default configuration to a file.
    Init(InitArgs),
    /// Print the version.
    Version,
    /// Measure a router: WAMP load (rpc, pubsub, connections, latency) against any router URL.
    Bench(switchboard_bench::BenchArgs),
    /// Call a procedure and print its result as JSON.
    Call(client_cmds::CallArgs),
    /// Publish an event.
    Publish(client_cmds::PublishArgs),
    /// Subscribe to a topic and print each event as a JSON line until Ctrl-C or SIGTERM.
    Subscribe(client_cmds::SubscribeArgs),
    /// Register a procedure and answer its calls (by echoing or by running a shell command)
    /// until Ctrl-C or SIGTERM.
    Register(client_cmds::RegisterArgs),
}

#[derive(Debug, Args)]
struct StartArgs {
    /// Config file (TOML); without it the built-in development setup is used.
    #[arg(short, long, value_name = "PATH", env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// IP address for the first listener, overriding the config.
    #[arg(long, value_name = "IP", env = "SWITCHBOARD_BIND")]
    bind: Option<IpAddr>,
    /// Port for the first listener, overriding the config (0: the OS picks a free port).
    #[arg(short, long, value_name = "N", env = "SWITCHBOARD_PORT")]
    port: Option<u16>,
    /// Add a realm (repeatable).
    #[arg(long = "realm", value_name = "NAME")]
    realms: Vec<String>,
    /// Log level or filter, e.g. "debug" or "info,switchboard=trace"; overrides RUST_LOG and
    /// router.log_level from the config.
    #[arg(long, value_name = "FILTER", env = "SWITCHBOARD_LOG")]
    log: Option<String>,
    /// Raise the log level one step per use (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Where to write the configuration ("-" for standard output).
    #[arg(value_name = "PATH", default_value = "switchboard.toml")]
    path: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(short, long)]
    force: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and --version are "errors" that go to stdout with exit code 0.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`switchboard init - | head`) is not a failure.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Prints the error and its causes to stderr, one per line.
fn report(err: &anyhow::Error) {
    let mut stderr = io::stderr().lock();
    let mut text = format!("error: {err}\n");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    // Nothing sensible is left to do if stderr itself is gone.
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Start(args) => start(args).await,
        Command::Init(args) => init(&args),
        Command::Version => print_stdout(&format!("switchboard {VERSION}\n")),
        Command::Bench(args) => switchboard_bench::run(args).await,
        Command::Call(args) => client_cmds::call(args).await,
        Command::Publish(args) => client_cmds::publish(args).await,
        Command::Subscribe(args) => client_cmds::subscribe(args).await,
        Command::Register(args) => client_cmds::register(args).await,
    }
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => load_config(path)?,
        None => Config::dev_default(),
    };
    config.override_listen(args.bind, args.port);
    for name in &args.realms {
        config.add_realm(name).map_err(|err| match err {
            ConfigError::Invalid { message, .. } => anyhow!("--realm: {message}"),
            err => anyhow!(err).context("--realm"),
        })?;
    }
    init_logging(&config, &args)?;
    tracing::info!(
        config = %args.config.as_deref().map_or("built-in development default".into(), |p| p.display().to_string()),
        "configuration loaded"
    );
    run_router(config, args.config.as_deref()).await
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|err| match err {
        // Already names the file.
        err @ ConfigError::Read { .. } => anyhow!(err),
        err => anyhow!(err).context(format!("invalid config file {}", path.display())),
    })
}

/// Runs the router until it stops.
///
/// Placeholder until `switchboard_router::run` exists: prints the banner for the configured
/// addresses and fails. The real body binds the listeners, prints
/// `banner(&config, config_path, &bound_addrs)` with the addresses actually bound (port 0
/// resolved), flushes stdout, and serves until shutdown.
async fn run_router(config: Config, config_path: Option<&Path>) -> anyhow::Result<()> {
    let server = Server::bind(&config).await?;
    print_stdout(&banner(&config, config_path, server.local_addrs()))?;
    server.run_until(shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

/// The startup banner. Test harnesses parse the `ws://HOST:PORT/PATH` and `rs://HOST:PORT`
/// lines from stdout, so `bound_addrs` must be the addresses actually bound, in listener order.
fn banner(config: &Config, config_path: Option<&Path>, bound_addrs: &[SocketAddr]) -> String {
    const DEV_MODE: &str = "development mode: anonymous clients may do everything";
    let mut out = format!("Switchboard {VERSION} — ");
    match config_path {
        None => out.push_str(DEV_MODE),
        Some(path) if config.router.auto_realms => {
            out.push_str(&format!("config: {} ({DEV_MODE})", path.display()));
        }
        Some(path) => out.push_str(&format!("config: {}", path.display())),
    }
    out.push('\n');
    for (i, addr) in bound_addrs.iter().enumerate() {
        let listen = config.listen.get(i);
        let ws_path = listen.map_or("/ws", |l| l.ws_path.as_str());
        let (ws, rs) = match listen.is_some_and(|l| l.tls.is_some()) {
            true => ("wss", "rss"),
            false => ("ws", "rs"),
        };
        out.push_str(&format!("  WebSocket  {ws}://{addr}{ws_path}\n"));
        out.push_str(&format!("  RawSocket  {rs}://{addr}\n"));
    }
    for l in &config.unix_listen {
        let tls = if l.tls.is_some() { " (TLS)" } else { "" };
        out.push_str(&format!(
            "  Unix       {} (RawSocket, and WebSocket at {}){tls}\n",
            l.path.display(),
            l.ws_path
        ));
    }
    let names: Vec<&str> = config.realms.iter().map(|r| r.name.as_str()).collect();
    let realms = match (names.is_empty(), config.router.auto_realms) {
        (false, true) => format!(
            "{} (other realms are created on first use)",
            names.join(", ")
        ),
        (false, false) => names.join(", "),
        (true, true) => "none configured (realms are created on first use)".to_owned(),
        (true, false) => "none".to_owned(),
    };
    out.push_str(&format!("  Realms     {realms}\n"));
    out
}

/// Installs the tracing subscriber (to stderr, keeping stdout for the banner).
///
/// The filter is, first found: `--log`/`SWITCHBOARD_LOG`, `RUST_LOG`, `router.log_level`;
/// then each `-v` raises its level one step.
fn init_logging(config: &Config, args: &StartArgs) -> anyhow::Result<()> {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let (source, base) = match (&args.log, rust_log) {
        (Some(log), _) => ("--log/SWITCHBOARD_LOG", log.clone()),
        (None, Some(rust_log)) => ("RUST_LOG", rust_log),
        (None, None) => ("router.log_level", config.router.log_level.clone()),
    };
    let filter = raise_filter(&base, args.verbose);
    let env_filter = EnvFilter::builder()
        .parse(&filter)
        .with_context(|| format!("{source}: invalid log filter {base:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init()
        .map_err(|err| anyhow!("cannot install the logger: {err}"))
}

/// Level names from quietest to loudest.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Raises every plain level directive of `filter` by `steps` (`info` → `debug` → `trace`).
/// A filter without a plain level (only `target=level` directives) gets one, raised from
/// `info`.
fn raise_filter(filter: &str, steps: u8) -> String {
    if steps == 0 {
        return filter.trim().to_owned();
    }
    let raise = |index: usize| LEVELS[(index + usize::from(steps)).min(LEVELS.len() - 1)];
    let mut found = false;
    let mut directives: Vec<String> = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(
            |d| match LEVELS.iter().position(|l| l.eq_ignore_ascii_case(d)) {
                Some(index) => {
                    found = true;
                    raise(index).to_owned()
                }
                None => d.to_owned(),
            },
        )
        .collect();
    if !found {
        directives.push(raise(3).to_owned());
    }
    directives.join(",")
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    if args.path.as_os_str() == "-" {
        return print_stdout(DEFAULT_TOML);
    }
    let path = &args.path;
    let mut options = OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        // create_new: the check and the creation are one step, so nothing is overwritten.
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; not overwriting it (use --force to replace it)",
            path.display()
        ),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot create {}", path.display()));
        }
    };
    file.write_all(DEFAULT_TOML.as_bytes())
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
    print_stdout(&format!(
        "wrote the default configuration to {path}\nstart the router with: switchboard start \
         --config {path}\n",
        path = path.display()
    ))
}

/// Writes to stdout and flushes, returning an error (not panicking) if stdout is closed.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn dev_banner_matches_the_documented_text() {
        let config = Config::dev_default();
        let bound = ["127.0.0.1:8080".parse().unwrap()];
        assert_eq!(
            banner(&config, None, &bound),
            format!(
                "Switchboard {VERSION} — development mode: anonymous clients may do everything\n\
                 \x20 WebSocket  ws://127.0.0.1:8080/ws\n\
                 \x20 RawSocket  rs://127.0.0.1:8080\n\
                 \x20 Realms     realm1 (other realms are created on first use)\n"
            )
        );
    }

    #[test]
    fn banner_shows_the_bound_port_not_the_configured_one() {
        let mut config = Config::dev_default();
        config.override_listen(None, Some(0));
        let bound = ["127.0.0.1:43117".parse().unwrap()];
        let text = banner(&config, None, &bound);
        assert!(
            text.contains("  WebSocket  ws://127.0.0.1:43117/ws\n"),
            "{text}"
        );
        assert!(
            text.contains("  RawSocket  rs://127.0.0.1:43117\n"),
            "{text}"
        );
        assert!(!text.contains(":0"), "{text}");
    }

    #[test]
    fn banner_with_config_file_names_it_and_every_listener() {
        let config = Config::from_toml_str(
            "[[listen]]\nbind = \"127.0.0.1:0\"\n[[listen]]\nbind = \"[::1]:0\"\nws_path = \"/wamp\"\n\
             [[realm]]\nname = \"a\"\n[[realm]]\nname = \"b.c\"\n",
        )
        .unwrap();
        let bound = [
            "127.0.0.1:5000".parse().unwrap(),
            "[::1]:5001".parse().unwrap(),
        ];
        let text = banner(&config, Some(Path::new("site.toml")), &bound);
        assert_eq!(
            text,
            format!(
                "Switchboard {VERSION} — config: site.toml\n\
                 \x20 WebSocket  ws://127.0.0.1:5000/ws\n\
                 \x20 RawSocket  rs://127.0.0.1:5000\n\
                 \x20 WebSocket  ws://[::1]:5001/wamp\n\
                 \x20 RawSocket  rs://[::1]:5001\n\
                 \x20 Realms     a, b.c\n"
            )
        );
    }

    #[test]
    fn banner_with_auto_realms_config_file_says_development_mode() {
        let config = Config::dev_default();
        let bound = ["127.0.0.1:8080".parse().unwrap()];
        let text = banner(&config, Some(Path::new("switchboard.toml")), &bound);
        assert!(
            text.starts_with(&format!(
                "Switchboard {VERSION} — config: switchboard.toml (development mode: anonymous \
                 clients may do everything)\n"
            )),
            "{text}"
        );
    }

    #[test]
    fn verbose_raises_plain_levels() {
        assert_eq!(raise_filter("info", 0), "info");
        assert_eq!(raise_filter("info", 1), "debug");
        assert_eq!(raise_filter("info", 2), "trace");
        assert_eq!(raise_filter("info", 9), "trace");
        assert_eq!(raise_filter("WARN", 1), "info");
        assert_eq!(raise_filter("info,hyper=warn", 1), "debug,hyper=warn");
        assert_eq!(
            raise_filter("switchboard=trace", 1),
            "switchboard=trace,debug"
        );
    }

    #[test]
    fn start_flags_parse() {
        let cli = Cli::try_parse_from([
            "switchboard",
            "start",
            "--bind",
            "0.0.0.0",
            "--port",
            "0",
            "--realm",
            "a",
            "--realm",
            "b",
            "-vv",
        ])
        .unwrap();
        let Command::Start(args) = cli.command else {
            panic!("expected start");
        };
        assert_eq!(args.bind, Some("0.0.0.0".parse().unwrap()));
        assert_eq!(args.port, Some(0));
        assert_eq!(args.realms, ["a", "b"]);
        assert_eq!(args.verbose, 2);
        assert!(Cli::try_parse_from(["switchboard", "start", "--port", "70000"]).is_err());
        assert!(Cli::try_parse_from(["switchboard", "start", "--bind", "localhost"]).is_err());
    }
}
