#!/usr/bin/env python3
"""How sessions end, seen from Autobahn|Python (one WebSocket/JSON and one RawSocket/msgpack
session).

goodbye   the client leaves; the router must answer its GOODBYE with a GOODBYE whose
          reason is wamp.close.goodbye_and_out (WAMP spec, "Closing a Session": MUST).
shutdown  the client prints READY and waits; whoever runs it then stops the router
          (SIGTERM), which must close both sessions with GOODBYE wamp.close.system_shutdown.

    python session_close.py goodbye --url ws://127.0.0.1:8080/ws --rs-url rs://127.0.0.1:8081
"""

import asyncio

import _harness as h
from _harness import expect_eq, step


def options(parser):
    parser.add_argument("case", choices=("goodbye", "shutdown"))
    parser.add_argument("--no-rawsocket", action="store_true", help="WebSocket session only")


async def main(args):
    sessions = [await h.join(args.url, args.realm, "json", "websocket/json session")]
    if not args.no_rawsocket:
        sessions.append(await h.join(args.rs_url, args.realm, "msgpack", "rawsocket/msgpack session"))

    if args.case == "goodbye":
        for s in sessions:
            s.leave()  # Autobahn sends GOODBYE wamp.close.normal
        for s in sessions:
            try:
                details = await asyncio.wait_for(asyncio.shield(s.left), 5)
            except asyncio.TimeoutError:
                raise h.Failure("no GOODBYE reply within 5s of the client's GOODBYE") from None
            step(f"router answered GOODBYE with reason {details.reason}")
            expect_eq(details.reason, "wamp.close.goodbye_and_out", "reason of the router's GOODBYE reply")
            await asyncio.wait_for(asyncio.shield(s.closed), 5)
        return

    print("READY", flush=True)
    for s in sessions:
        details = await asyncio.shield(s.left)  # bounded by the script's --timeout
        step(f"session ended: reason {details.reason} ({details.message or ''})")
        expect_eq(details.reason, "wamp.close.system_shutdown", "close reason when the router shuts down")
    for s in sessions:
        await asyncio.wait_for(asyncio.shield(s.closed), 5)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
