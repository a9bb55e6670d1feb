//! Runs the built `switchboard` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use switchboard_router::config::Config;

/// A fresh, empty directory for one test.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("switchboard-cli")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the binary with `args` in `dir`, with no Switchboard or RUST_LOG variables inherited.
fn switchboard(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.args(args).current_dir(dir);
    for var in [
        "SWITCHBOARD_CONFIG",
        "SWITCHBOARD_BIND",
        "SWITCHBOARD_PORT",
        "SWITCHBOARD_LOG",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_panic(output: &Output) {
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "panic in stderr: {stderr}");
    assert_ne!(output.status.code(), Some(101), "exit code of a panic");
}

#[test]
fn init_writes_a_config_equal_to_the_dev_default() {
    let dir = scratch_dir("init_default");
    let output = switchboard(&dir, &["init"]);
    assert!(output.status.success(), "{output:?}");
    let path = dir.join("switchboard.toml");
    assert_eq!(Config::load(&path).unwrap(), Config::dev_default());
    assert!(
        text(&output.stdout).contains("switchboard.toml"),
        "{output:?}"
    );
}

#[test]
fn init_writes_to_a_given_path() {
    let dir = scratch_dir("init_path");
    let output = switchboard(&dir, &["init", "custom.toml"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        Config::load(dir.join("custom.toml")).unwrap(),
        Config::dev_default()
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = scratch_dir("init_overwrite");
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, "# mine\n").unwrap();

    let output = switchboard(&dir, &["init"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_no_panic(&output);
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

    let output = switchboard(&dir, &["init", "--force"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(Config::load(&path).unwrap(), Config::dev_default());
}

#[test]
fn init_dash_prints_the_default_config() {
    let dir = scratch_dir("init_dash");
    let output = switchboard(&dir, &["init", "-"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        Config::from_toml_str(&text(&output.stdout)).unwrap(),
        Config::dev_default()
    );
    assert!(!dir.join("-").exists());
}

#[test]
fn start_with_unknown_config_key_fails_naming_the_key() {
    let dir = scratch_dir("start_bad_key");
    std::fs::write(
        dir.join("bad.toml"),
        "[router]\nauto_realms = true\n\n[limits]\nmax_sesions = 5\n",
    )
    .unwrap();
    let output = switchboard(&dir, &["start", "--config", "bad.toml"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_no_panic(&output);
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(stderr.contains("max_sesions"), "{stderr}");
    assert!(stderr.contains("line 5"), "{stderr}");
    assert!(text(&output.stdout).is_empty(), "{output:?}");
}

#[test]
fn start_with_invalid_value_fails_naming_the_key_path() {
    let dir = scratch_dir("start_bad_value");
    std::fs::write(
        dir.join("bad.toml"),
        "[[listen]]\nbind = \"nowhere\"\n[[realm]]\nname = \"realm1\"\n",
    )
    .unwrap();
    let output = switchboard(&dir, &["start", "--config", "bad.toml"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_no_panic(&output);
    assert!(
        text(&output.stderr).contains("listen[0].bind: invalid socket address \"nowhere\""),
        "{output:?}"
    );
}

#[test]
fn start_with_missing_config_file_names_the_path() {
    let dir = scratch_dir("start_missing");
    let output = switchboard(&dir, &["start", "--config", "missing.toml"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_no_panic(&output);
    assert!(text(&output.stderr).contains("missing.toml"), "{output:?}");
}

#[test]
fn start_with_invalid_realm_flag_fails() {
    let dir = scratch_dir("start_bad_realm");
    let output = switchboard(&dir, &["start", "--realm", "bad realm"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_no_panic(&output);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--realm: invalid realm name \"bad realm\""),
        "{stderr}"
    );
}

#[test]
fn start_with_invalid_log_filter_fails_naming_its_source() {
    let dir = scratch_dir("start_bad_log");
    let output = switchboard(&dir, &["start", "--log", "info,[unclosed"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_no_panic(&output);
    assert!(text(&output.stderr).contains("--log"), "{output:?}");
}

/// The banner contract: interop harnesses read `ws://HOST:PORT/ws` and `rs://HOST:PORT` from
/// stdout. Reads only up to the RawSocket line and then stops the process, so the test holds
/// whether the router keeps serving or not.
#[test]
fn start_prints_a_banner_with_the_overridden_address() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = scratch_dir("start_banner");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "start",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--realm",
            "com.example",
        ])
        .current_dir(&dir)
        .env_remove("SWITCHBOARD_CONFIG")
        .env_remove("SWITCHBOARD_BIND")
        .env_remove("SWITCHBOARD_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let done = line.contains("Realms");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    assert_ne!(status.code(), Some(101), "panicked");

    assert!(lines[0].starts_with("Switchboard "), "{lines:?}");
    let ws = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("WebSocket  ws://127.0.0.1:"))
        .expect("a WebSocket line");
    let rs = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("RawSocket  rs://127.0.0.1:"))
        .expect("a RawSocket line");
    let ws_port: u16 = ws.strip_suffix("/ws").unwrap().parse().unwrap();
    let rs_port: u16 = rs.parse().unwrap();
    assert_eq!(ws_port, rs_port);
    assert!(
        lines.last().unwrap().contains("realm1, com.example"),
        "{lines:?}"
    );
}

#[test]
fn version_prints_the_version() {
    let dir = scratch_dir("version");
    for args in [&["version"][..], &["--version"][..]] {
        let output = switchboard(&dir, args);
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            text(&output.stdout).trim(),
            format!("switchboard {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn usage_errors_exit_with_code_2() {
    let dir = scratch_dir("usage");
    let output = switchboard(&dir, &["start", "--port", "not-a-port"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_no_panic(&output);
    let output = switchboard(&dir, &["frobnicate"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
