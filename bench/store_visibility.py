#!/usr/bin/env python3
"""Visibility latency between two `reco serve --store` replicas (not a test;
bench/store_bench.sh runs it).

Posts N single ratings, one at a time, to replica A (each a user of its
own, so that it is new to both), and after A's acknowledgement asks
replica B for that user's ratings every millisecond or so (one kept-alive
connection each) until the rating is there. Prints one line per rating:
the seconds from A's acknowledgement to B's first answer that holds it.
Usage: store_visibility.py PORT_A PORT_B N PREFIX"""
import http.client
import json
import sys
import time


def main():
    port_a, port_b, n, prefix = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    a = http.client.HTTPConnection("127.0.0.1", port_a, timeout=10)
    b = http.client.HTTPConnection("127.0.0.1", port_b, timeout=10)
    hdr = {"Content-Type": "application/json"}
    for k in range(n):
        user = "%s-%d" % (prefix, k)
        body = json.dumps({"user": user, "item": "VIS", "rating": 4})
        a.request("POST", "/v1/ratings", body, hdr)
        r = a.getresponse()
        r.read()
        if r.status != 201:
            sys.exit("post %d: status %d" % (k, r.status))
        acked = time.monotonic()
        while True:
            b.request("GET", "/v1/users/%s/ratings" % user)
            r = b.getresponse()
            r.read()
            if r.status == 200:
                break
            if time.monotonic() - acked > 10:
                sys.exit("rating %d not visible on B after 10 s" % k)
            time.sleep(0.001)
        print("%.6f" % (time.monotonic() - acked))


if __name__ == "__main__":
    main()
