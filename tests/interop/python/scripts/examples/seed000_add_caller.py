# Quick-start example, unchanged: a caller of `com.example.add` built only from the
# "Remote Procedure Calls" guide (seed 000_b27a8ca1854273aa): the "Establishing a
# connection" script whose `_on_join` runs the guide's "Making a Call" snippet.
#
# The guide leaves x and y to user input ("The user provides and input for x and y"); here
# the user typed 2 and 3, so it prints "2 + 3 = 5.0". The router URL comes from the
# example's own BONDY_URL variable, the realm from REALM. The example never leaves on its
# own; the harness (run_example.py) stops the Component once the line is printed.
import os
import signal

from autobahn.asyncio.component import Component
from autobahn.asyncio.component import run

BONDY_URL = os.getenv("BONDY_URL", "ws://localhost:18080/ws")
REALM = os.getenv("REALM", "com.example.realm")
AUTHMETHOD = os.getenv("AUTHMETHOD", "anonymous")
AUTHENTICATION_CONFIG = {"anonymous": None}

class Connect:

    # Creation of the autobahn component
    def __init__(self):
        transport = {
            "type": "websocket",
            "url": BONDY_URL,
            "serializers": ["json"],
        }
        auth_config = AUTHENTICATION_CONFIG[AUTHMETHOD]
        self._component = Component(
            transports=[transport],
            authentication=auth_config,
            realm=REALM
        )

        # Register session lifecycle callbacks
        self._component.on("join", self._on_join)
        self._component.on("leave", self._on_leave)

        self._session = None

    def start(self):
        run([self._component])
        print("Done.")

    async def _on_join(self, session, details):
        self._session = session

        # The user provides and input for x and y
        x, y = 2, 3

        try:
            z = await self._session.call("com.example.add", x, y)

        except Exception as error:
            print(f"RPC failed: {error.args[0]}")

        else:
            print(f"{x} + {y} = {z}")

    def _on_leave(self, session, details):
        self._session = None


# Start of the script when called from prompt
if __name__ == "__main__":

    # Handle Ctrl+C gracefully
    def signal_handler(sig, frame):
        sys.exit(0)

    signal.signal(signal.SIGINT, signal_handler)

    connect = Connect()
    connect.start()
