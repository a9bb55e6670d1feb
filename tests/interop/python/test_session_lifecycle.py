"""How sessions end: the GOODBYE handshake, and router shutdown on SIGTERM."""

import pytest

from conftest import Scripts, external_router, start_router


@pytest.mark.deviates_in_crossbar(
    "Crossbar 26.10.1 answers a client's GOODBYE with wamp.close.normal; "
    "the spec says the reply's reason is wamp.close.goodbye_and_out"
)
def test_client_goodbye_is_answered_with_goodbye_and_out(router, scripts):
    # WAMP spec, "Closing a Session": the receiver of GOODBYE MUST reply GOODBYE with
    # reason wamp.close.goodbye_and_out. Checked over WebSocket and RawSocket.
    args = [] if router.rs_url else ["--no-rawsocket"]
    scripts.run("session_close.py", "goodbye", *args)


@pytest.mark.deviates_in_crossbar(
    "Crossbar 26.10.1 drops connections on shutdown without GOODBYE (clients see wamp.close.transport_lost)"
)
def test_sigterm_closes_sessions_with_system_shutdown_and_exits_zero(tmp_path):
    # Contract of `switchboard start`: on SIGTERM every session gets GOODBYE
    # wamp.close.system_shutdown and the process exits 0. Needs a router of our own.
    if external_router():
        pytest.skip("WAMP_ROUTER_URL is set: that router is not ours to stop")
    router = start_router(tmp_path)
    try:
        client = Scripts(router).start("session_close.py", "shutdown")
        client.wait_for_line("READY")
        status = router.process.terminate()
        client.expect_success()
        assert status == 0, f"router exit status after SIGTERM\n{router.log()}"
    finally:
        router.process.kill()
