//! Tiny scenarios against an in-process router (and the in-process bare relay), checking
//! counts, loss and order, never speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchboard_bench::{Report, execute, parse_args};
use switchboard_relay::{Relay, RelayConfig};
use switchboard_router::config::Config;
use switchboard_router::server::Server;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Something listening on 127.0.0.1:0; dropped, it is told to stop.
struct Running {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    async fn router() -> Running {
        let mut config = Config::dev_default();
        config.override_listen(Some("127.0.0.1".parse().unwrap()), Some(0));
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addrs()[0];
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        Running {
            url: format!("ws://{addr}/ws"),
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn relay() -> Running {
        let relay = Relay::bind("127.0.0.1:0".parse().unwrap(), RelayConfig::default())
            .await
            .unwrap();
        let addr = relay.local_addr();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(relay.run_until(async {
            let _ = rx.await;
        }));
        Running {
            url: format!("ws://{addr}/ws"),
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn bench(&self, args: &[&str]) -> Report {
        let mut argv = vec!["bench", "--url", &self.url, "--no-progress"];
        argv.extend_from_slice(args);
        let args = parse_args(argv).unwrap();
        let report = tokio::time::timeout(Duration::from_secs(60), execute(&args))
            .await
            .expect("the scenario finishes")
            .unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        report
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_ten_calls_give_ten_results() {
    let router = Running::router().await;
    let report = router
        .bench(&["rpc", "--calls", "10", "--callers", "2", "--in-flight", "3"])
        .await;
    assert_eq!(report.scenario, "rpc");
    let rpc = report.rpc.as_ref().unwrap();
    assert_eq!(rpc.calls, 10);
    assert_eq!(rpc.calls_total, 10);
    assert_eq!(rpc.errors, 0);
    assert_eq!(report.latency.as_ref().unwrap().samples, 10);
    assert!(report.generator.is_some());
    assert!(report.router.is_none(), "no --router-pid given");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rpc"]["calls"], 10);
    assert_eq!(json["parameters"]["callers"], 2);
    assert_eq!(json["serializer"], "msgpack");
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_with_several_callees_shares_one_registration() {
    let router = Running::router().await;
    let report = router
        .bench(&[
            "rpc",
            "--calls",
            "30",
            "-n",
            "3",
            "-w",
            "2",
            "--callees",
            "3",
        ])
        .await;
    let rpc = report.rpc.unwrap();
    assert_eq!((rpc.calls_total, rpc.errors), (30, 0));
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_works_with_every_serializer_and_payload_size() {
    let router = Running::router().await;
    for (serializer, payload) in [("json", "0"), ("cbor", "100"), ("msgpack", "4000")] {
        let report = router
            .bench(&[
                "rpc",
                "--calls",
                "12",
                "-n",
                "2",
                "--serializer",
                serializer,
                "--payload",
                payload,
            ])
            .await;
        assert_eq!(report.serializer, serializer);
        assert_eq!(report.rpc.unwrap().calls_total, 12, "{serializer}");
    }
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_rpc_measures_after_the_warmup() {
    let router = Running::router().await;
    let report = router
        .bench(&[
            "rpc", "-d", "300ms", "--warmup", "100ms", "-n", "2", "-w", "2",
        ])
        .await;
    let rpc = report.rpc.unwrap();
    assert!(rpc.calls > 0);
    assert!(rpc.calls_total >= rpc.calls);
    assert!(rpc.calls_per_s > 0.0);
    assert!(
        report.measured_s >= 0.3 && report.measured_s < 1.0,
        "{}",
        report.measured_s
    );
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_two_subscribers_get_all_fifty_events_in_order() {
    let router = Running::router().await;
    let report = router
        .bench(&[
            "pubsub",
            "--publishers",
            "1",
            "--subscribers",
            "2",
            "--events",
            "50",
        ])
        .await;
    let p = report.pubsub.unwrap();
    assert_eq!(p.published, 50);
    assert_eq!(p.expected, 100);
    assert_eq!(p.delivered, 100);
    assert_eq!(p.lost, 0);
    assert_eq!(p.out_of_order, 0);
    assert_eq!(p.subscribers_closed, 0);
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_pubsub_with_a_small_window_delivers_everything() {
    let router = Running::router().await;
    let paced = router
        .bench(&[
            "pubsub", "-P", "2", "-S", "3", "--rate", "2000", "--events", "20",
        ])
        .await;
    let p = paced.pubsub.unwrap();
    assert_eq!(
        (p.published, p.delivered, p.lost, p.out_of_order),
        (40, 120, 0, 0)
    );
    assert_eq!(paced.latency.unwrap().samples, 120);
    assert_eq!(paced.send_lag.unwrap().samples, 40);

    // Burst with a window of 1: each event waits for every subscriber.
    let burst = router
        .bench(&[
            "pubsub", "-P", "2", "-S", "2", "--window", "1", "--events", "15",
        ])
        .await;
    let p = burst.pubsub.unwrap();
    assert_eq!(
        (p.published, p.delivered, p.lost, p.out_of_order),
        (30, 60, 0, 0)
    );
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_scenario_answers_every_paced_call() {
    let router = Running::router().await;
    let report = router
        .bench(&[
            "latency",
            "--rate",
            "1000",
            "--callers",
            "2",
            "--calls",
            "20",
        ])
        .await;
    assert_eq!(report.rpc.unwrap().calls_total, 20);
    assert_eq!(report.latency.unwrap().samples, 20);
    assert_eq!(report.send_lag.unwrap().samples, 20);
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_opens_holds_and_closes_sessions() {
    let router = Running::router().await;
    // The router runs in this process, so --router-pid is our own pid.
    let pid = std::process::id().to_string();
    let report = router
        .bench(&[
            "connections",
            "--count",
            "20",
            "--concurrency",
            "4",
            "--hold",
            "0s",
            "--router-pid",
            &pid,
        ])
        .await;
    let c = report.connections.unwrap();
    assert_eq!((c.requested, c.opened, c.failed), (20, 20, 0));
    assert!(c.joins_per_s > 0.0);
    assert!(c.router_rss_before_kib.is_some() && c.router_rss_held_kib.is_some());
    assert!(c.router_rss_per_session_kib.is_some());
    assert_eq!(report.latency.unwrap().samples, 20);
    assert_eq!(report.router.unwrap().pid, Some(std::process::id()));
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_relay_carries_the_same_traffic() {
    let relay = Running::relay().await;
    let rpc = relay
        .bench(&["--relay", "rpc", "--calls", "10", "-n", "2", "-w", "3"])
        .await;
    assert!(rpc.relay);
    assert_eq!(rpc.rpc.unwrap().calls_total, 10);

    let pubsub = relay
        .bench(&["--relay", "pubsub", "-S", "2", "--events", "50"])
        .await;
    let p = pubsub.pubsub.unwrap();
    assert_eq!((p.delivered, p.lost, p.out_of_order), (100, 0, 0));

    let conns = relay
        .bench(&["--relay", "connections", "-c", "10", "--hold", "0s"])
        .await;
    assert_eq!(conns.connections.unwrap().opened, 10);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_router_is_an_error() {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("ws://127.0.0.1:{port}/ws");
    let args = parse_args([
        "bench",
        "--url",
        &url,
        "--no-progress",
        "rpc",
        "--calls",
        "1",
    ])
    .unwrap();
    let err = execute(&args).await.unwrap_err();
    assert!(format!("{err:#}").contains("cannot connect"), "{err:#}");

    let args = parse_args(["bench", "--url", "http://x", "rpc"]).unwrap();
    assert!(execute(&args).await.is_err());
}
