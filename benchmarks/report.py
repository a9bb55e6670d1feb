#!/usr/bin/env python3
"""Turns the JSON results of one `benchmarks/compare` run into docs/benchmarks.md.

Usage: report.py --runs DIR --machine machine.json --notes notes.md --out docs/benchmarks.md

DIR holds r<round>-<scenario>-<label>.json files written by `switchboard bench --json`
(labels: switchboard, crossbar, relay). Medians are taken over the rounds.
"""

import argparse
import glob
import json
import os
import re
import statistics
import sys

LABELS = ("switchboard", "crossbar", "relay")


def load(runs_dir):
    """{(scenario, label): [report, ...]} in round order, plus the failures."""
    results, failures = {}, []
    for path in sorted(glob.glob(os.path.join(runs_dir, "r*-*-*.json"))):
        m = re.match(r"r(\d+)-(\w+)-(\w+)\.json$", os.path.basename(path))
        if not m:
            continue
        rnd, scenario, label = int(m.group(1)), m.group(2), m.group(3)
        with open(path) as f:
            report = json.load(f)
        report["_round"] = rnd
        if report.get("failed"):
            failures.append((rnd, scenario, label, report.get("error", "").strip()))
            continue
        results.setdefault((scenario, label), []).append(report)
    for runs in results.values():
        runs.sort(key=lambda r: r["_round"])
    return results, failures


def dig(report, path):
    value = report
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value or value[key] is None:
            return None
        value = value[key]
    return value


def values(results, scenario, label, path):
    return [v for v in (dig(r, path) for r in results.get((scenario, label), [])) if v is not None]


def median(xs):
    return statistics.median(xs) if xs else None


def fmt_num(x, unit=""):
    if x is None:
        return "–"
    if abs(x) >= 100:
        s = f"{x:,.0f}"
    elif abs(x) >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.2f}"
    return f"{s}{unit}"


def fmt_int(x):
    return "–" if x is None else f"{x:,.0f}"


def fmt_us(us):
    if us is None:
        return "–"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"


def fmt_range(xs, f):
    if not xs:
        return "–"
    if len(xs) == 1:
        return f(xs[0])
    return f"{f(min(xs))} – {f(max(xs))}"


# (key, title, scenario, path, formatter, higher_is_better)
METRICS = [
    ("rpc", "RPC calls/s (16 callers × 8 in flight, 1 callee, msgpack, 16 B)", "rpc",
     "rpc.calls_per_s", fmt_num, True),
    ("pubsub", "PubSub deliveries/s (1 publisher → 10 subscribers, burst, msgpack, 16 B)",
     "pubsub", "pubsub.deliveries_per_s", fmt_num, True),
    ("latency", "p99 call latency at a paced 2,000 calls/s (4 callers, 1 callee, single-threaded generator)", "latency",
     "latency.p99_us", fmt_us, False),
    ("rss", "Router RSS per idle session (sessions held on a fresh router)", "connections",
     "connections.router_rss_per_session_kib", lambda x: fmt_num(x, " KiB"), False),
    ("joins", "Joins/s (sessions opened, 64 at a time)", "connections",
     "connections.joins_per_s", fmt_num, True),
]


def target_rows(results):
    """Rows: title, switchboard, crossbar, ratio text, target text, met (bool/None)."""
    rows = []
    med = {}
    for key, title, scenario, path, f, _ in METRICS:
        sb = median(values(results, scenario, "switchboard", path))
        cb = median(values(results, scenario, "crossbar", path))
        med[key] = (sb, cb)
        ratio = sb / cb if sb is not None and cb else None
        if key == "rpc":
            target, met = "≥ 20×", ratio is not None and ratio >= 20
            ratio_text = fmt_num(ratio, "×")
        elif key == "pubsub":
            target, met = "≥ 30×", ratio is not None and ratio >= 30
            ratio_text = fmt_num(ratio, "×")
        elif key == "latency":
            target, met = "≤ 1/10 (0.10)", ratio is not None and ratio <= 0.10
            ratio_text = fmt_num(ratio) if ratio is None else f"{ratio:.3f}"
        elif key == "rss":
            target = "≤ 1/4 (0.25) and ≤ 6 KiB"
            met = ratio is not None and ratio <= 0.25 and sb is not None and sb <= 6.0
            ratio_text = "–" if ratio is None else f"{ratio:.2f}"
        else:
            target, met = "≥ 20×", ratio is not None and ratio >= 20
            ratio_text = fmt_num(ratio, "×")
        if sb is None or cb is None:
            met = None
        rows.append((title, f(sb), f(cb), ratio_text, target, met))
    sb = median(values(results, "rpc", "switchboard", "rpc.calls_per_s"))
    relay = median(values(results, "rpc", "relay", "rpc.calls_per_s"))
    share = sb / relay if sb is not None and relay else None
    rows.append((
        "Switchboard's RPC message rate vs the bare relay's (same rpc load)",
        fmt_num(sb), f"relay: {fmt_num(relay)}",
        "–" if share is None else f"{share * 100:.0f} %", "≥ 60 %",
        None if share is None else share >= 0.60,
    ))
    return rows


def detail_table(results, scenario, columns):
    """Per label: median and range of each column, plus CPU of generator and router."""
    lines = []
    head = ["target"] + [c[0] for c in columns] + ["generator CPU", "router CPU", "router RSS (end)"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for label in LABELS:
        runs = results.get((scenario, label))
        if not runs:
            continue
        cells = [label]
        for _, path, f in columns:
            xs = values(results, scenario, label, path)
            cells.append(f"{f(median(xs))} ({fmt_range(xs, f)})" if len(xs) > 1 else f(median(xs)))
        gen = median(values(results, scenario, label, "generator.cpu_percent"))
        rtr = median(values(results, scenario, label, "router.cpu_percent"))
        rss = median(values(results, scenario, label, "router.rss_end_kib"))
        cells.append(fmt_num(gen, " %"))
        cells.append(fmt_num(rtr, " %"))
        cells.append("–" if rss is None else f"{rss / 1024:.1f} MiB")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--notes")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    results, failures = load(a.runs)
    with open(a.machine) as f:
        machine = json.load(f)
    rounds = machine.get("rounds")

    out = []
    w = out.append
    w("# Benchmarks: Switchboard vs Crossbar.io (and a bare relay)\n")
    w(f"Generated by `benchmarks/compare` on {machine.get('date')}; medians of {rounds} rounds, "
      f"{machine.get('duration')} measured per run after a {machine.get('warmup')} warm-up. "
      "The load generator is `switchboard bench` (Rust, real WAMP over WebSocket) for every "
      "target, so the targets are measured the same way; router, Crossbar, relay and "
      "generator all share the machine's cores, over loopback. Router CPU and RSS are read "
      "from `/proc` for the routing process (for Crossbar: its router worker). The tables "
      "are regenerated on every run; the analysis at the end comes from "
      "`benchmarks/notes.md`.\n")

    w("## Machine\n")
    w("| | |\n|---|---|")
    w(f"| CPU | {machine.get('cpu_model')}, {machine.get('nproc')} cores visible (`nproc`) |")
    w(f"| Memory | {machine.get('memory_gib')} GiB |")
    w(f"| OS | {machine.get('os')}, kernel {machine.get('kernel')} |")
    w(f"| Switchboard | release build, {machine.get('rustc')} |")
    w(f"| Crossbar.io | {machine.get('crossbar')} (Autobahn {machine.get('autobahn')}, "
      f"Python {machine.get('python')}, CPython, from PyPI) |")
    if machine.get("loadavg_start"):
        w(f"| Load average (1/5/15 min) | {' '.join(machine['loadavg_start'])} at the start, "
          f"{' '.join(machine.get('loadavg_end') or ['?'])} at the end (other work on the "
          "machine counts here too) |")
    if machine.get("measure_seconds"):
        w(f"| Measuring took | {machine['measure_seconds']} s |")
    w("")
    for note in machine.get("restarts") or []:
        w(f"- Note: {note} (it was no longer running).")
    if machine.get("restarts"):
        w("")

    w("## Targets\n")
    w("| Measure | Switchboard | Crossbar | Switchboard / Crossbar | Target | Result |")
    w("|---|---|---|---|---|---|")
    for title, sb, cb, ratio, target, met in target_rows(results):
        res = "–" if met is None else ("met" if met else "**missed**")
        w(f"| {title} | {sb} | {cb} | {ratio} | {target} | {res} |")
    w("")

    w("## Details (median, with the range over the rounds)\n")
    w("### rpc: 16 callers × 8 calls in flight, 1 callee\n")
    w(detail_table(results, "rpc", [
        ("calls/s", "rpc.calls_per_s", fmt_num),
        ("p50", "latency.p50_us", fmt_us),
        ("p99", "latency.p99_us", fmt_us),
        ("errors", "rpc.errors", fmt_int),
    ]))
    w("")
    w("### pubsub: 1 publisher → 10 subscribers, burst (at most 1,000 events unreceived)\n")
    w(detail_table(results, "pubsub", [
        ("deliveries/s", "pubsub.deliveries_per_s", fmt_num),
        ("lost", "pubsub.lost", fmt_int),
        ("out of order", "pubsub.out_of_order", fmt_int),
        ("delivery p50", "latency.p50_us", fmt_us),
    ]))
    w("")
    w("### latency: paced 2,000 calls/s (open loop), 4 callers, 1 callee, single-threaded generator\n")
    w(detail_table(results, "latency", [
        ("calls/s", "rpc.calls_per_s", fmt_num),
        ("p50", "latency.p50_us", fmt_us),
        ("p90", "latency.p90_us", fmt_us),
        ("p99", "latency.p99_us", fmt_us),
        ("p99.9", "latency.p999_us", fmt_us),
        ("send lag p99", "send_lag.p99_us", fmt_us),
    ]))
    w("")
    w(f"### connections: {machine.get('sessions')} sessions opened 64 at a time, held 2 s, "
      "on a freshly started router\n")
    w(detail_table(results, "connections", [
        ("joins/s", "connections.joins_per_s", fmt_num),
        ("join p99", "latency.p99_us", fmt_us),
        ("RSS before", "connections.router_rss_before_kib", lambda x: fmt_num(x and x / 1024, " MiB")),
        ("RSS/session", "connections.router_rss_per_session_kib", lambda x: fmt_num(x, " KiB")),
    ]))
    w("")
    if failures:
        w("### Failed runs\n")
        for rnd, scenario, label, err in failures:
            last = err.splitlines()[-1] if err else "(no output)"
            w(f"- round {rnd}, {scenario} against {label}: `{last}`")
        w("")

    w("## Reproduce\n")
    w("```sh")
    w(f"benchmarks/compare --rounds {rounds}       # builds, installs Crossbar (cached), measures, writes this file")
    w("benchmarks/compare --quick         # 1 round, 2 s runs, 200 sessions: a smoke test")
    w("```\n")
    w("Each run is one `switchboard bench` command against a router started on loopback; by "
      "hand, for example:\n")
    w("```sh")
    w("cargo build --release -p switchboard -p switchboard-relay")
    w("target/release/switchboard start --port 18080 &            # Switchboard, development config")
    w("target/release/switchboard-relay --bind 127.0.0.1:18083 &  # the bare relay")
    w("B=\"target/release/switchboard bench --router-pid <PID> --duration 5s --warmup 1s\"")
    w("$B --url ws://127.0.0.1:18080/ws rpc --callers 16 --in-flight 8 --callees 1")
    w("$B --url ws://127.0.0.1:18080/ws pubsub --publishers 1 --subscribers 10")
    w("$B --url ws://127.0.0.1:18080/ws latency --rate 2000 --callers 4 --threads 1")
    w(f"$B --url ws://127.0.0.1:18080/ws connections --count {machine.get('sessions')} --concurrency 64 --hold 2s")
    w("$B --url ws://127.0.0.1:18083/ws --relay rpc --callers 16 --in-flight 8")
    w("```\n")
    w("Crossbar runs with `benchmarks/crossbar/config.json` (WebSocket on 18081, RawSocket on "
      "18082, realm `realm1`, anonymous role allowed everything, no compression, no auto-ping); "
      "measure its router worker, the `crossbar-worker [...RouterController]` child of the "
      "controller. Micro-benchmarks: `cargo bench -p switchboard-proto --bench codec` and "
      "`cargo bench -p switchboard-engine --bench matching`.\n")

    if a.notes and os.path.exists(a.notes):
        with open(a.notes) as f:
            w(f.read().rstrip() + "\n")

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
