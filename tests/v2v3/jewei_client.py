"""Drives jewei-mcp-nacos (PyPI), a Nacos tool whose 2.x client speaks the
open API (/nacos/v2/cs/config) and whose 3.x client logs in at
/nacos/v3/auth/user/login, against vigil. Usage: jewei_client.py HOST:PORT
SCENARIO; prints `PASS <scenario>` when every step held.

The tool is configured as its users configure it: environment variables
NACOS_VERSION, NACOS_HOST, NACOS_PORT / NACOS_API_PORT, NACOS_NAMESPACE
(default "public", the 3.x default namespace id), NACOS_USERNAME and
NACOS_PASSWORD (set by the test when the server has auth on).
"""

import asyncio
import os
import sys

import httpx

from jewei_mcp_nacos.clients import factory
from jewei_mcp_nacos.clients.v3 import NacosClientV3


def check(cond, what):
    if not cond:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


async def v2_config(host, port):
    os.environ.update(
        {"NACOS_VERSION": "2", "NACOS_HOST": host, "NACOS_PORT": port, "NACOS_API_PORT": port}
    )
    client = await factory.get_nacos_client()
    check(type(client).__name__ == "NacosClientV2", "the factory picks the 2.x open API client")
    ok = await client.publish_config("tool.yaml", "a: 1\n", "TOOLS", config_type="yaml", desc="by the tool")
    check(ok is True, "publish through /nacos/v2/cs/config answers true")
    got = await client.get_config("tool.yaml", "TOOLS")
    check(got["content"] == "a: 1\n", f"get through /nacos/v2/cs/config reads it back: {got!r}")
    got = await client.get_config("tool.yaml", "TOOLS", namespace_id="public")
    check(got["content"] == "a: 1\n", "namespace 'public' is the default namespace")
    ok = await client.publish_config("tool.yaml", "a: 2\n", "TOOLS", namespace_id="dev")
    check(ok is True, "publish into namespace dev")
    got = await client.get_config("tool.yaml", "TOOLS", namespace_id="dev")
    check(got["content"] == "a: 2\n", "namespace dev holds its own value")
    try:
        await client.get_config("absent", "TOOLS")
        check(False, "a missing config raises")
    except httpx.HTTPStatusError as e:
        check(e.response.status_code == 404, "a missing config is HTTP 404")
        body = e.response.json()
        check(body["code"] == 20004, f"with code 20004: {body}")
    if os.environ.get("NACOS_USERNAME"):
        v3 = NacosClientV3()
        token = await v3._ensure_token()
        check(bool(token), "the 3.x client logs in at /nacos/v3/auth/user/login")


def main():
    addr, scenario = sys.argv[1], sys.argv[2]
    host, port = addr.rsplit(":", 1)
    scenarios = {"v2-config": v2_config}
    asyncio.run(scenarios[scenario](host, port))
    print(f"PASS {scenario}", flush=True)


if __name__ == "__main__":
    main()
