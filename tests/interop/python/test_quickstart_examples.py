"""Documentation examples run unchanged (only the router URL differs), judged by what
they print. See scripts/examples/ for the code and its provenance, and
scripts/run_example.py for how a run is judged."""

COUNTERS = 20


def test_component_example_registers_add_and_a_caller_gets_the_sum(router, scripts):
    # seed 000: Autobahn|Python Component, realm com.example.realm, URL from BONDY_URL
    env = {"BONDY_URL": router.url, "REALM": "com.example.realm"}
    callee = scripts.start_example(
        "seed000_add_callee.py", env=env, extra=["--announce-registration", "com.example.add"]
    )
    callee.wait_for_line("[harness] registered com.example.add")
    out = scripts.run_example("seed000_add_caller.py", env=env, expect=["2 + 3 = 5.0"], fail_on=["RPC failed"])
    assert "2 + 3 = 5.0" in out
    callee.stop()


def test_application_runner_example_registers_add2_and_a_caller_gets_the_sum(router, scripts):
    # seed 003: ApplicationSession + ApplicationRunner (Twisted), realm realm1
    callee = scripts.start_example(
        "seed003_add2_callee.py", router.url, "realm1",
        expect=["session ready", "procedure registered"], fail_on=["could not register procedure"],
    )
    callee.wait_for_line("procedure registered")
    scripts.run_example(
        "seed003_add2_caller.py", router.url, "realm1",
        expect=["session ready", "call result: 5"], fail_on=["call error"],
    )
    callee.stop()


def test_application_runner_example_subscriber_gets_every_counter_in_order(router, scripts):
    # seed 003: the subscriber prints "event received: {0} <n>" (sic) per event; it must
    # see 0..19, each once and in order, from the publisher started after it subscribed.
    subscriber = scripts.start_example(
        "seed003_oncounter_subscriber.py", router.url, "realm1",
        expect=["subscribed to topic"] + [f"event received: {{0}} {n}" for n in range(COUNTERS)],
        strict="event received:", fail_on=["could not subscribe"], then="stop",
    )
    subscriber.wait_for_line("subscribed to topic")
    publisher = scripts.start_example(
        "seed003_oncounter_publisher.py", router.url, "realm1",
        expect=["session ready"], extra=["--sleep-scale", "0.05"],
    )
    subscriber.expect_success()
    publisher.stop()
