# Quick-start example, unchanged: "Calling Procedures" (Twisted) from Autobahn|Python's WAMP
# programming guide (seed 003_7763e4c09ad0af61) in the guide's ApplicationRunner template.
# Calls com.myapp.add2(2, 3) and prints "call result: 5".
#
# Only change to the guide: the template's runner line takes the router URL and realm from
# argv[1]/argv[2] or WAMP_ROUTER_URL/WAMP_REALM; the defaults are the guide's own. The Twisted
# variant is used because the guide's asyncio variant needs `asyncio.coroutine`, which
# Python 3.11 removed, so that one cannot run unchanged on any current Python.
from autobahn.twisted.wamp import ApplicationSession, ApplicationRunner
from twisted.internet.defer import inlineCallbacks


class MyComponent(ApplicationSession):

    @inlineCallbacks
    def onJoin(self, details):
        print("session ready")

        try:
            res = yield self.call(u'com.myapp.add2', 2, 3)
            print("call result: {}".format(res))
        except Exception as e:
            print("call error: {0}".format(e))


if __name__ == '__main__':
    import os, sys
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WAMP_ROUTER_URL", u"ws://localhost:8080/ws")
    realm = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("WAMP_REALM", u"realm1")
    runner = ApplicationRunner(url = url, realm = realm)
    runner.run(MyComponent)
