# Quick-start example, unchanged: the Autobahn|Python `Component` from the "Remote Procedure
# Calls" guide (seed 000_b27a8ca1854273aa): the "Establishing a connection" script with the
# "Basic Registrations" `_on_join` and `add` handler put in. It registers
# `com.example.add` in realm `com.example.realm`.
#
# Nothing is changed; the router URL comes from the example's own BONDY_URL variable
# (default ws://localhost:18080/ws) and the realm from REALM. Note (sic): the guide never
# imports `sys`, used by its SIGINT handler; autobahn's run() replaces SIGINT/SIGTERM
# handling with its own, so that handler never runs. The test stops this with SIGTERM.
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
        self._session.register(self.add, "com.example.add")


    # Call handler for procedure 'com.example.add'
    def add(self, x, y):
        """Add 2 numbers."""

        try:
            z = float(x) + float(y)

        except Exception as error:
            print(f"Invalid input: {error.args[0]}")
            raise

        else:
            return z

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
