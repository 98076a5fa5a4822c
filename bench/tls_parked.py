#!/usr/bin/env python3
"""RSS per parked long poll, plain or over TLS (issue 21's figure).

Usage: tls_parked.py HOST:PORT VIGIL_PID N [CA_PEM]
With CA_PEM the connections are TLS (the server checked against that CA).
Opens N connections, parks one long poll on each (an absent key of its own,
Long-Pulling-Timeout 110 s), waits until the server reports N parked polls,
and prints the server's RSS growth per parked poll, measured against the RSS
with one idle connection open (so the allocator's first growth is not
counted). Run it against a fresh server; it needs N + 20 open files.
"""
import json
import socket
import ssl
import sys
import time
import urllib.parse


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for %d" % pid)


def connect(host, port, ctx):
    s = socket.create_connection((host, port))
    if ctx is not None:
        s = ctx.wrap_socket(s, server_hostname=host)
    return s


def request(s, raw):
    s.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += s.recv(65536)
    return body


def parked(host, port, ctx):
    s = connect(host, port, ctx)
    body = request(s, b"GET /nacos/actuator/prometheus HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
    s.close()
    for line in body.decode().splitlines():
        if line.startswith("vigil_parked_polls "):
            return int(float(line.split()[1]))
    raise SystemExit("no vigil_parked_polls metric")


def main():
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    pid, n = int(sys.argv[2]), int(sys.argv[3])
    ctx = None
    if len(sys.argv) == 5:
        ctx = ssl.create_default_context(cafile=sys.argv[4])
        ctx.set_alpn_protocols(["http/1.1"])
    warm = connect(host, port, ctx)
    request(warm, b"GET /nacos/v1/cs/health HTTP/1.1\r\nHost: b\r\n\r\n")
    time.sleep(0.5)
    base = rss_kb(pid)
    conns = []
    t = time.time()
    for i in range(n):
        rec = "tlsbench.%d\x02B\x02\x01" % i
        body = urllib.parse.urlencode({"Listening-Configs": rec}).encode()
        raw = (
            b"POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nHost: b\r\n"
            b"Long-Pulling-Timeout: 110000\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        ) + body
        s = connect(host, port, ctx)
        s.sendall(raw)
        conns.append(s)
    opened = time.time() - t
    deadline = time.time() + 60
    while parked(host, port, ctx) < n:
        if time.time() > deadline:
            raise SystemExit("not all parked")
        time.sleep(0.2)
    time.sleep(1.0)
    after = rss_kb(pid)
    print(json.dumps({
        "tls": ctx is not None,
        "parked": n,
        "rss_base_kb": base,
        "rss_parked_kb": after,
        "bytes_per_parked_poll": round((after - base) * 1024 / n),
        "open_seconds": round(opened, 2),
    }))


if __name__ == "__main__":
    main()
