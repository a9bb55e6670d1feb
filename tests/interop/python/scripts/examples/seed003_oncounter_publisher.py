# Quick-start example, unchanged: "Publishing Events" (Twisted) from Autobahn|Python's WAMP
# programming guide (seed 003_7763e4c09ad0af61) in the guide's ApplicationRunner template.
# Publishes 0, 1, 2, ... to com.myapp.oncounter, one per second, forever. (The test runs it
# through run_example.py --sleep-scale, which shortens autobahn.twisted.util.sleep.)
#
# Only change to the guide: the template's runner line takes the router URL and realm from
# argv[1]/argv[2] or WAMP_ROUTER_URL/WAMP_REALM; the defaults are the guide's own. The Twisted
# variant is used because the guide's asyncio variant needs `asyncio.coroutine`, which
# Python 3.11 removed, so that one cannot run unchanged on any current Python.
from autobahn.twisted.wamp import ApplicationSession, ApplicationRunner
from autobahn.twisted.util import sleep
from twisted.internet.defer import inlineCallbacks


class MyComponent(ApplicationSession):

    @inlineCallbacks
    def onJoin(self, details):
        print("session ready")

        counter = 0
        while True:
            self.publish(u'com.myapp.oncounter', counter)
            counter += 1
            yield sleep(1)


if __name__ == '__main__':
    import os, sys
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WAMP_ROUTER_URL", u"ws://localhost:8080/ws")
    realm = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("WAMP_REALM", u"realm1")
    runner = ApplicationRunner(url = url, realm = realm)
    runner.run(MyComponent)
