"""gRPC interop scenarios for vigil driven by the real Python SDK, nacos-sdk-python
(its v2 package: `v2.nacos.NacosConfigService`, asyncio + grpcio), installed pinned
from tests/interop/py2/requirements.txt.

Usage:     py2_client.py HOST:PORT[,HOST:PORT...] SCENARIO
The addresses are HTTP ones; the SDK talks gRPC on each port + 1000.
Scenarios: basic, listen, namespace, auth_on, restart, failover (see SCENARIOS).
Environment: INTEROP_SDK_VERSION (optional) is the nacos-sdk-python version that must
be imported; INTEROP_AUTH_USER / INTEROP_AUTH_PASSWORD the administrator of an
auth-on server.

restart and failover stop half-way: they print `AWAIT <what>` and read one line from
stdin, the HTTP address (HOST:PORT) of a live server, once the test has restarted the
server (restart) or stopped the node the client is connected to (failover).
Run it from a scratch working directory (the SDK's logs and cache go there). Prints
one line per check and `PASS <scenario>` at the end; exits 0 only when every check
passed (1 on a failed check, 2 on bad usage, 3 when its time limit ran out).
"""

import asyncio
import importlib.metadata
import os
import sys
import time
import traceback
import urllib.parse
import urllib.request

from v2.nacos import ClientConfigBuilder, ConfigParam, NacosConfigService

PUSH_TIMEOUT = 10.0
RECONNECT_TIMEOUT = 40.0
QUIET_WAIT = 2.0
# A pause between adding listeners and the first change. The SDK may register a new
# listener only in its next 5 s round: the first push may take that long.
LISTEN_SETTLE = 0.5
SCRIPT_TIMEOUT = 130.0


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(cond, what):
    if not cond:
        raise Failure(what)
    log(f"ok: {what}")


def expect_eq(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")
    log(f"ok: {what}")


def stamp():
    return format(time.time_ns(), "x")


class Env:
    def __init__(self, addrs):
        self.addrs = addrs
        self.http = addrs.split(",")[0]
        self.dir = os.getcwd()
        self.clients = []

    async def client(self, namespace="", user=None, password=None):
        builder = (
            ClientConfigBuilder()
            # The scheme matters to the login request (HTTP); gRPC takes the host and
            # port + 1000 either way.
            .server_address(",".join(f"http://{a}" for a in self.addrs.split(",")))
            .namespace_id(namespace)
            .log_dir(os.path.join(self.dir, "logs"))
            .cache_dir(os.path.join(self.dir, "cache"))
            .timeout_ms(10000)
            .load_cache_at_start(False)
        )
        if user is not None:
            builder = builder.username(user).password(password)
        config = builder.build()
        config.disable_use_config_cache = True
        service = await NacosConfigService.create_config_service(config)
        self.clients.append(service)
        return service

    def http_publish(self, data_id, group, tenant, content):
        """POST /nacos/v1/cs/configs; returns when the request was sent (a push may
        arrive before the reply)."""
        sent = time.monotonic()
        form = {"dataId": data_id, "group": group, "content": content}
        if tenant:
            form["tenant"] = tenant
        body = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(f"http://{self.http}/nacos/v1/cs/configs", data=body)
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
            if resp.status != 200 or text.strip() != "true":
                raise Failure(f"HTTP publish of {data_id}: {resp.status} {text!r}")
        return sent

    def http_type(self, data_id, group):
        q = urllib.parse.urlencode({"dataId": data_id, "group": group})
        with urllib.request.urlopen(f"http://{self.http}/nacos/v1/cs/configs?{q}", timeout=10) as resp:
            return resp.headers.get("Config-Type")

    async def close(self):
        for c in self.clients:
            try:
                await c.shutdown()
            except Exception as e:  # noqa: BLE001 - a close failure is only reported
                log(f"note: shutting a client down failed: {e!r}")


class Recorder:
    def __init__(self):
        self.events = asyncio.Queue()

    async def on_change(self, tenant, group, data_id, content):
        await self.events.put((tenant, group, data_id, content, time.monotonic()))

    async def listen(self, client, data_id, group):
        await client.add_listener(data_id, group, self.on_change)

    async def expect_push(self, since, limit, data_id, group, content, what):
        try:
            _tenant, g, d, data, at = await asyncio.wait_for(self.events.get(), limit)
        except asyncio.TimeoutError:
            raise Failure(f"{what}: no push within {limit} s") from None
        expect_eq(f"{d}/{g}", f"{data_id}/{group}", f"{what}: pushed key")
        expect_eq(data, content, f"{what}: pushed content")
        log(f"   ({what}: pushed {(at - since) * 1000:.1f} ms after the publish)")

    async def expect_quiet(self, what):
        try:
            ev = await asyncio.wait_for(self.events.get(), QUIET_WAIT)
        except asyncio.TimeoutError:
            log(f"ok: {what} (no push within {QUIET_WAIT} s)")
            return
        raise Failure(f"{what}: expected no push, got {ev[1]}/{ev[2]} {ev[3]!r}")


async def publish(client, data_id, group, content, what, type_=""):
    ok = await client.publish_config(ConfigParam(data_id=data_id, group=group, content=content, type=type_))
    check(ok is True, f"publish_config -> True ({what})")
    return time.monotonic()


async def get(client, data_id, group):
    return await client.get_config(ConfigParam(data_id=data_id, group=group))


async def await_line(what):
    log(f"AWAIT {what}")
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:
        raise Failure(f"stdin closed before the answer to AWAIT {what}")
    return line.strip()


async def basic(env):
    c = await env.client()
    did, group = f"py2-basic-{stamp()}", "PY2_GROUP"
    expect_eq(await get(c, did, group), "", "get_config of a missing key -> ''")
    await publish(c, did, group, "a: 1\n", "new key", "yaml")
    expect_eq(await get(c, did, group), "a: 1\n", "get_config returns the published content")
    expect_eq(env.http_type(did, group), "yaml", "the published type is stored")
    await publish(c, did, group, '{"a": 2}', "update", "json")
    expect_eq(await get(c, did, group), '{"a": 2}', "get_config returns the updated content")
    expect_eq(env.http_type(did, group), "json", "the updated type is stored")
    check(await c.remove_config(ConfigParam(data_id=did, group=group)) is True, "remove_config -> True")
    expect_eq(await get(c, did, group), "", "get_config after remove -> ''")


async def listen(env):
    c = await env.client()
    writer = await env.client()
    group, base = "DEFAULT_GROUP", f"py2-listen-{stamp()}"
    recs = []
    for i in range(3):
        r = Recorder()
        await r.listen(c, f"{base}-{i}", group)
        recs.append(r)
    await asyncio.sleep(LISTEN_SETTLE)
    for i, r in enumerate(recs):
        did = f"{base}-{i}"
        await r.expect_push(env.http_publish(did, group, "", f"http {i}"), PUSH_TIMEOUT, did, group,
                            f"http {i}", f"HTTP publish of {did}")
        since = await publish(writer, did, group, f"sdk {i}", did)
        await r.expect_push(since, PUSH_TIMEOUT, did, group, f"sdk {i}", f"SDK publish of {did}")
    for r in recs:
        await r.expect_quiet("no other key's change reached this listener")


async def namespace(env):
    pub = await env.client()
    dev = await env.client("dev")
    did, group = f"py2-ns-{stamp()}", "DEFAULT_GROUP"
    r_pub, r_dev = Recorder(), Recorder()
    await r_pub.listen(pub, did, group)
    await r_dev.listen(dev, did, group)
    await asyncio.sleep(LISTEN_SETTLE)
    since = await publish(dev, did, group, "in dev", "dev")
    await r_dev.expect_push(since, PUSH_TIMEOUT, did, group, "in dev", "dev publish")
    await r_pub.expect_quiet("a publish in dev does not reach the public listener")
    expect_eq(await get(pub, did, group), "", "the key is still missing in public")
    since = await publish(pub, did, group, "in public", "public")
    await r_pub.expect_push(since, PUSH_TIMEOUT, did, group, "in public", "public publish")
    await r_dev.expect_quiet("a publish in public does not reach the dev listener")
    expect_eq(await get(dev, did, group), "in dev", "dev keeps its own content")
    await r_dev.expect_push(env.http_publish(did, group, "dev", "dev by http"), PUSH_TIMEOUT, did, group,
                            "dev by http", "HTTP publish with tenant=dev")
    await r_pub.expect_quiet("the HTTP publish in dev does not reach the public listener")


async def auth_on(env):
    user, password = os.environ.get("INTEROP_AUTH_USER"), os.environ.get("INTEROP_AUTH_PASSWORD")
    if not user or not password:
        usage("auth_on needs INTEROP_AUTH_USER and INTEROP_AUTH_PASSWORD")
    c = await env.client(user=user, password=password)
    did, group = f"py2-auth-{stamp()}", "DEFAULT_GROUP"
    r = Recorder()
    await r.listen(c, did, group)
    await asyncio.sleep(LISTEN_SETTLE)
    since = await publish(c, did, group, "secret", "logged in")
    await r.expect_push(since, PUSH_TIMEOUT, did, group, "secret", "logged-in publish")
    expect_eq(await get(c, did, group), "secret", "get_config logged in")
    try:
        bad = await env.client(user=user, password=password + "-wrong")
    except Exception as e:  # noqa: BLE001 - any refusal at creation is a refusal
        log(f"ok: a client with a wrong password is refused at creation ({e!r})")
        return
    try:
        got = await get(bad, did, group)
    except Exception as e:  # noqa: BLE001
        log(f"ok: get_config with a wrong password fails ({e!r})")
    else:
        raise Failure(f"get_config with a wrong password returned {got!r}")
    try:
        ok = await bad.publish_config(ConfigParam(data_id=did, group=group, content="forged"))
    except Exception as e:  # noqa: BLE001
        log(f"ok: publish_config with a wrong password fails ({e!r})")
    else:
        check(ok is not True, f"publish_config with a wrong password is refused (got {ok!r})")
    expect_eq(await get(c, did, group), "secret", "the refused publish changed nothing")


async def restart(env, stdin_what="restart"):
    c = await env.client()
    did, group = f"py2-{stdin_what}-{stamp()}", "DEFAULT_GROUP"
    r = Recorder()
    await r.listen(c, did, group)
    await asyncio.sleep(LISTEN_SETTLE)
    await r.expect_push(env.http_publish(did, group, "", "before"), PUSH_TIMEOUT, did, group, "before",
                        f"push before the {stdin_what}")
    env.http = await await_line(stdin_what)
    await r.expect_push(env.http_publish(did, group, "", "after"), RECONNECT_TIMEOUT, did, group, "after",
                        f"push after the {stdin_what}")
    since = await publish(c, did, group, "sdk after", f"after the {stdin_what}")
    await r.expect_push(since, PUSH_TIMEOUT, did, group, "sdk after", f"SDK publish after the {stdin_what}")
    expect_eq(await get(c, did, group), "sdk after", f"get_config after the {stdin_what}")


async def failover(env):
    check("," in env.addrs, "failover is given two servers")
    await restart(env, "failover")


SCENARIOS = {
    "basic": basic,
    "listen": listen,
    "namespace": namespace,
    "auth_on": auth_on,
    "restart": restart,
    "failover": failover,
}


def usage(msg):
    sys.stderr.write(f"{msg}\nusage: py2_client.py HOST:PORT[,HOST:PORT] SCENARIO (one of {', '.join(SCENARIOS)})\n")
    sys.exit(2)


async def main():
    if len(sys.argv) != 3:
        usage("expected two arguments")
    addrs, name = sys.argv[1], sys.argv[2]
    if name not in SCENARIOS:
        usage(f"unknown scenario {name}")
    version = importlib.metadata.version("nacos-sdk-python")
    want = os.environ.get("INTEROP_SDK_VERSION")
    if want:
        expect_eq(version, want, "the imported nacos-sdk-python version")
    log(f"nacos-sdk-python {version} (v2 gRPC), scenario {name} against {addrs}")
    env = Env(addrs)
    try:
        await asyncio.wait_for(SCENARIOS[name](env), SCRIPT_TIMEOUT)
    except asyncio.TimeoutError:
        log(f"FAIL {name}: the scenario's own time limit of {SCRIPT_TIMEOUT} s ran out")
        os._exit(3)
    except Failure as f:
        log(f"FAIL {name}: {f}")
        os._exit(1)
    except Exception as e:  # noqa: BLE001 - an SDK error fails the scenario, shown whole
        log(f"FAIL {name}: {e!r}")
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        os._exit(1)
    await env.close()
    log(f"PASS {name}")
    # The SDK leaves background tasks and grpc threads behind: leave at once.
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
