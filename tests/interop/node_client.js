// Purpose: interop scenarios for vigil driven by the real Node.js `nacos-config` SDK
// (NacosConfigClient: getConfig, publishSingle, remove, subscribe).
//
// Usage:     node node_client.js HOST:PORT SCENARIO
// Scenarios: basic, group_tenant, content, many, auth, hold, auth_on (see SCENARIOS at
// the bottom; auth_on needs a server with auth on and INTEROP_AUTH_PASSWORD; hold reads
// the server's hold of a 30 s poll from INTEROP_HOLD_MS, 29500 by default).
// Environment: NODE_PATH must point at the node_modules of an install of the pinned SDK
// (tests/interop/node/package-lock.json); INTEROP_SDK_VERSION (optional) is the version
// that must be found there. Run it from a scratch working directory (snapshots go to
// ./nacos-cache). Prints one line per check and `PASS <scenario>` at the end; exits 0
// only when every check passed (1 on a failed check, 2 on bad usage, 3 when the
// scenario's own time limit ran out).
//
// NacosConfigClient sits on `cluster-client`, which elects a leader per process group
// through a fixed local TCP port (7777 unless NODE_CLUSTER_CLIENT_PORT says otherwise,
// read when the module loads). Parallel test processes would otherwise share one
// leader, and so one server address; each run therefore picks its own free port before
// loading the SDK, and each run creates exactly one NacosConfigClient (a second one with
// the same cluster name would become a follower of the first, namespace included).

'use strict';

const http = require('http');
const net = require('net');
const path = require('path');
const crypto = require('crypto');

const CALLBACK_TIMEOUT_MS = 10000;
const MANY_TIMEOUT_MS = 25000;
const QUIET_MS = 3000;
const SCRIPT_TIMEOUT_MS = 110000;
const REQUEST_TIMEOUT_MS = 20000;
// The server's hold of an idle 30 s poll (INTEROP_HOLD_MS; 29.5 s by default). The
// quiet window outlasts one hold by 3 s, so a poll must have expired inside it.
const HOLD_MS = Number(process.env.INTEROP_HOLD_MS || 29500);
const HOLD_QUIET_MS = HOLD_MS + 3000;

// See py_client.py: every character class that tends to break form/query encoding.
const SPECIAL =
  '  leading spaces\n' +
  '名字=值\n' +
  '中文配置: 你好，世界 ✓ 😀\r\n' +
  'plus+plus a+b=c %25 %41 %zz 100% done\r\n' +
  'amp&amp=1&x=y?q=1#frag\n' +
  '\ttab\tseparated\t\n' +
  'quotes \'single\' "double" back\\slash\n' +
  'lone\rcr\n' +
  '\n' +
  'trailing spaces and CRLF   \r\n';
const SPECIAL_2 = SPECIAL + 'changed: ü ß € %2B +\r\n';

class Failure extends Error {}

function log(msg) {
  process.stdout.write(msg + '\n');
}

function short(value, limit = 200) {
  let text = value === undefined ? 'undefined' : JSON.stringify(value);
  if (text.length > limit) text = text.slice(0, limit) + `...(${text.length} chars in all)`;
  return text;
}

function check(cond, what) {
  if (!cond) throw new Failure(what);
  log('ok: ' + what);
}

function expectEq(actual, expected, what) {
  if (actual !== expected) {
    let detail = `${what}: expected ${short(expected)}, got ${short(actual)}`;
    if (typeof actual === 'string' && typeof expected === 'string') {
      let n = 0;
      while (n < actual.length && n < expected.length && actual[n] === expected[n]) n++;
      detail += ` (lengths ${actual.length} vs ${expected.length}, first difference at index ${n}: ` +
        `${short(actual.slice(n, n + 20))} vs ${short(expected.slice(n, n + 20))})`;
    }
    throw new Failure(detail);
  }
  log('ok: ' + what);
}

function md5(text) {
  return crypto.createHash('md5').update(Buffer.from(text, 'utf8')).digest('hex');
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

function largeContent(minBytes) {
  const parts = [];
  let size = 0;
  for (let i = 0; size < minBytes; i++) {
    const line = `line ${String(i).padStart(7, '0')}: key.${i}=value ${i * 7919} with 中文 and %+&= symbols\r\n`;
    parts.push(line);
    size += Buffer.byteLength(line, 'utf8');
  }
  return parts.join('');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Plain HTTP against the server, for checks the SDK cannot express (another namespace).
function raw(addr, method, pathAndQuery, form) {
  const [host, port] = addr.split(':');
  const body = form ? new URLSearchParams(form).toString() : null;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host, port: Number(port), method, path: pathAndQuery, timeout: 10000,
      headers: body === null ? {} : {
        'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8',
        'Content-Length': Buffer.byteLength(body),
      },
    }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathAndQuery}: timed out`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

/** Collects subscription callbacks in arrival order. */
class Recorder {
  constructor(name) {
    this.name = name;
    this.events = [];
    this.seen = 0;
    this.wakers = [];
  }

  listener(key) {
    return content => {
      this.events.push({ key, content });
      const wakers = this.wakers;
      this.wakers = [];
      for (const w of wakers) w();
    };
  }

  async nextEvent(timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length <= this.seen) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Failure(`${this.name}: no subscription callback within ${timeoutMs / 1000} s (${what})`);
      await new Promise(resolve => {
        const t = setTimeout(resolve, left);
        this.wakers.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.events[this.seen++];
  }

  async expectNext(timeoutMs, key, content, what) {
    const started = Date.now();
    const ev = await this.nextEvent(timeoutMs, what);
    expectEq(ev.key, key, `${what}: callback key`);
    expectEq(ev.content, content, `${what}: callback content`);
    log(`   (${what}: callback after ${((Date.now() - started) / 1000).toFixed(2)} s)`);
  }

  async expectQuiet(ms, what) {
    await sleep(ms);
    const extra = this.events.slice(this.seen);
    if (extra.length) throw new Failure(`${what}: expected no callback within ${ms / 1000} s, got ${short(extra)}`);
    log(`ok: ${what} (no callback within ${ms / 1000} s)`);
  }
}

class Env {
  constructor(addr, NacosConfigClient) {
    this.addr = addr;
    this.NacosConfigClient = NacosConfigClient;
    this.client = null;
    this.sdkErrors = [];
  }

  /** Creates the run's one client (see the note at the top). */
  async open(options = {}) {
    if (this.client) throw new Error('one NacosConfigClient per process');
    const c = new this.NacosConfigClient(Object.assign({
      serverAddr: this.addr,
      requestTimeout: REQUEST_TIMEOUT_MS,
      cacheDir: path.join(process.cwd(), 'nacos-cache'),
    }, options));
    c.on('error', err => {
      this.sdkErrors.push(err);
      log(`   [sdk error event] ${err && err.name}: ${err && err.message}`);
    });
    this.client = c;
    await c.ready();
    return c;
  }

  async close() {
    if (this.client) {
      try {
        await Promise.race([Promise.resolve(this.client.close()), sleep(2000)]);
      } catch (e) {
        // closing is best effort
      }
    }
  }
}

async function get(c, dataId, group) {
  return c.getConfig(dataId, group);
}

async function publish(c, dataId, group, content, what) {
  expectEq(await c.publishSingle(dataId, group, content), true, `publishSingle -> true (${what})`);
}

async function remove(c, dataId, group, what) {
  expectEq(await c.remove(dataId, group), true, `remove -> true (${what})`);
}

function formQuery(params) {
  return new URLSearchParams(params).toString();
}

// ---------------------------------------------------------------- scenarios

async function basic(env) {
  const c = await env.open();
  const d = 'interop.basic.properties';
  const g = 'DEFAULT_GROUP';
  expectEq(await get(c, d, g), null, 'getConfig before any publish -> null');
  await publish(c, d, g, 'v=1\n', 'first');
  expectEq(await get(c, d, g), 'v=1\n', 'getConfig returns the published content');

  const rec = new Recorder('basic subscription');
  c.subscribe({ dataId: d, group: g }, rec.listener(d));
  // subscribe() first reads the current content and emits it.
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'v=1\n', 'initial emit on subscribe');

  await publish(c, d, g, 'v=2\n', 'change');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'v=2\n', 'change');
  expectEq(await get(c, d, g), 'v=2\n', 'getConfig after change');

  await publish(c, d, g, 'v=2\n', 'identical re-publish');
  await rec.expectQuiet(QUIET_MS, 'identical re-publish');

  await publish(c, d, g, 'v=3\n', 'change after identical re-publish');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'v=3\n', 'change after identical re-publish');

  await remove(c, d, g, 'delete');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, null, 'delete');
  expectEq(await get(c, d, g), null, 'getConfig after delete -> null');

  await publish(c, d, g, 'v=4\n', 're-create after delete');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'v=4\n', 're-create after delete');

  await remove(c, 'interop.never.published', g, 'delete of a key that never existed');
  await remove(c, d, g, 'cleanup');
}

async function groupTenant(env) {
  const addr = env.addr;
  const d = 'interop.tenant.yaml';
  const g = 'INTEROP_GROUP';
  const pubQuery = formQuery({ dataId: d, group: g });

  // The public-namespace side goes over plain HTTP (one SDK client per process).
  let r = await raw(addr, 'POST', '/nacos/v1/cs/configs', { dataId: d, group: g, content: 'where: public\n' });
  expectEq(`${r.status} ${r.body}`, '200 true', 'plain-HTTP publish into the public namespace');

  const c = await env.open({ namespace: 'dev' });
  expectEq(await get(c, d, g), null, 'namespace dev does not see the public config');
  await publish(c, d, g, 'where: dev\n', 'namespace dev, non-default group');
  expectEq(await get(c, d, g), 'where: dev\n', 'dev getConfig');
  expectEq(await get(c, d, 'DEFAULT_GROUP'), null, 'same dataId in DEFAULT_GROUP is absent');
  r = await raw(addr, 'GET', `/nacos/v1/cs/configs?${pubQuery}`);
  expectEq(`${r.status} ${r.body}`, '200 where: public\n', 'public value unchanged by the dev publish');
  r = await raw(addr, 'GET', `/nacos/v1/cs/configs?${formQuery({ dataId: d, group: g, tenant: 'dev' })}`);
  expectEq(`${r.status} ${r.body}`, '200 where: dev\n', 'plain-HTTP read of tenant dev');

  const rec = new Recorder('dev subscription');
  c.subscribe({ dataId: d, group: g }, rec.listener(d));
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'where: dev\n', 'initial emit on subscribe');

  r = await raw(addr, 'POST', '/nacos/v1/cs/configs', { dataId: d, group: g, content: 'where: public\nv: 2\n' });
  expectEq(`${r.status} ${r.body}`, '200 true', 'plain-HTTP change in the public namespace');
  await rec.expectQuiet(2000, 'dev subscription silent on a public change');

  await publish(c, d, g, 'where: dev\nv: 2\n', 'dev change');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'where: dev\nv: 2\n', 'dev change');

  await remove(c, d, g, 'dev delete');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, null, 'dev delete');
  expectEq(await get(c, d, g), null, 'dev getConfig after delete -> null');
  r = await raw(addr, 'GET', `/nacos/v1/cs/configs?${pubQuery}`);
  expectEq(`${r.status} ${r.body}`, '200 where: public\nv: 2\n', 'public value survives the dev delete');
  r = await raw(addr, 'DELETE', `/nacos/v1/cs/configs?${pubQuery}`);
  expectEq(`${r.status} ${r.body}`, '200 true', 'plain-HTTP public delete');
}

async function content(env) {
  const c = await env.open();
  const g = 'DEFAULT_GROUP';
  const d = 'interop.special.txt';
  const dLarge = 'interop.large.txt';
  await publish(c, d, g, SPECIAL, 'special characters');
  expectEq(await get(c, d, g), SPECIAL, 'special content round-trips exactly');

  const big = largeContent(3 * 1024 * 1024);
  const big2 = big.slice(0, -40) + 'the last line changed: 新值 %+&=\r\n';
  log(`   large content: ${Buffer.byteLength(big, 'utf8')} bytes, md5 ${md5(big)}`);
  const t = Date.now();
  await publish(c, dLarge, g, big, 'large content');
  const got = await get(c, dLarge, g);
  expectEq((got || '').length, big.length, 'large content length');
  expectEq(md5(got || ''), md5(big), 'large content md5');
  check(got === big, `large content round-trips exactly (${((Date.now() - t) / 1000).toFixed(2)} s)`);

  // Subscribe to both keys before the first change: a key subscribed while a poll is
  // parked joins only the next poll, so the first change goes to a key of the first poll.
  const rec = new Recorder('special subscription');
  const recLarge = new Recorder('large subscription');
  c.subscribe({ dataId: d, group: g }, rec.listener(d));
  c.subscribe({ dataId: dLarge, group: g }, recLarge.listener(dLarge));
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, SPECIAL, 'initial emit on subscribe');
  await recLarge.expectNext(CALLBACK_TIMEOUT_MS, dLarge, big, 'initial emit on subscribe (large)');
  await publish(c, d, g, SPECIAL_2, 'special change');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, SPECIAL_2, 'special change');
  await publish(c, dLarge, g, big2, 'large content change');
  await recLarge.expectNext(CALLBACK_TIMEOUT_MS, dLarge, big2, 'large content change');

  await remove(c, dLarge, g, 'large cleanup');
  await recLarge.expectNext(CALLBACK_TIMEOUT_MS, dLarge, null, 'large delete');
  await remove(c, d, g, 'special cleanup');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, null, 'special delete');
}

async function many(env, count = 50) {
  const c = await env.open();
  const g = 'INTEROP_MANY';
  const keys = [];
  for (let i = 0; i < count; i++) keys.push(`interop.many.${String(i).padStart(2, '0')}`);
  for (const k of keys) await publish(c, k, g, `${k}=v0`, `initial ${k}`);

  const rec = new Recorder('many subscriptions');
  for (const k of keys) c.subscribe({ dataId: k, group: g }, rec.listener(k));
  const initial = new Set();
  for (let i = 0; i < count; i++) {
    const ev = await rec.nextEvent(MANY_TIMEOUT_MS, `initial emits (${initial.size} of ${count} so far)`);
    expectEq(ev.content, `${ev.key}=v0`, `initial emit for ${ev.key}`);
    check(!initial.has(ev.key), `first initial emit for ${ev.key}`);
    initial.add(ev.key);
  }

  const started = Date.now();
  for (const k of keys) await publish(c, k, g, `${k}=v1`, `change ${k}`);
  const got = new Set();
  while (got.size < count) {
    const left = started + MANY_TIMEOUT_MS - Date.now();
    if (left <= 0) {
      throw new Failure(`only ${got.size} of ${count} callbacks arrived within ${MANY_TIMEOUT_MS / 1000} s; ` +
        `missing ${short(keys.filter(k => !got.has(k)), 600)}`);
    }
    const ev = await rec.nextEvent(left, `waiting for ${count - got.size} more callbacks`);
    if (got.has(ev.key)) throw new Failure(`second callback for ${ev.key}: ${short(ev)}`);
    expectEq(ev.content, `${ev.key}=v1`, `callback content for ${ev.key}`);
    got.add(ev.key);
  }
  log(`ok: all ${count} callbacks arrived, ${((Date.now() - started) / 1000).toFixed(2)} s after the first change`);
  await rec.expectQuiet(1000, 'no extra callbacks');
  for (const k of keys) await remove(c, k, g, `cleanup ${k}`);
}

async function auth(env) {
  // Server auth is off; Node never logs in but adds username/password to every request.
  const c = await env.open({ username: 'nacos', password: 'nacos' });
  const d = 'interop.auth.properties';
  const g = 'DEFAULT_GROUP';
  // Subscribe before the key exists: the initial emit is null, the poll carries an
  // empty md5 and must be held until the key is created.
  const rec = new Recorder('auth subscription');
  c.subscribe({ dataId: d, group: g }, rec.listener(d));
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, null, 'initial emit on subscribe (absent key)');
  await rec.expectQuiet(1500, 'subscription to a key that does not exist yet');
  await publish(c, d, g, 'secured=1\n', 'create with credentials');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'secured=1\n', 'create of a subscribed key');
  expectEq(await get(c, d, g), 'secured=1\n', 'getConfig with credentials');
  await publish(c, d, g, 'secured=2\n', 'change with credentials');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'secured=2\n', 'change with credentials');
  await remove(c, d, g, 'delete with credentials');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, null, 'delete with credentials');
}

async function authOn(env) {
  // Server started with auth on; Node never logs in: it sends username/password as
  // parameters of every request (query for GET/DELETE, form body for POST).
  const user = process.env.INTEROP_AUTH_USER || 'nacos';
  const password = process.env.INTEROP_AUTH_PASSWORD;
  if (!password) throw new Failure('scenario auth_on needs INTEROP_AUTH_PASSWORD');
  const d = 'interop.auth-on.properties';
  const g = 'DEFAULT_GROUP';
  const r = await raw(env.addr, 'GET', `/nacos/v1/cs/configs?${formQuery({ dataId: d, group: g })}`);
  expectEq(r.status, 403, 'plain-HTTP anonymous read is refused');

  const c = await env.open({ username: user, password, namespace: 'dev' });
  expectEq(await get(c, d, g), null, 'getConfig before publish, with credentials');
  await publish(c, d, g, 'on=1\n', 'with credentials');
  expectEq(await get(c, d, g), 'on=1\n', 'getConfig with credentials');
  const rec = new Recorder('auth-on subscription');
  c.subscribe({ dataId: d, group: g }, rec.listener(d));
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'on=1\n', 'initial emit on subscribe');
  await publish(c, d, g, 'on=2\n', 'change with credentials');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'on=2\n', 'change with credentials');
  await remove(c, d, g, 'delete with credentials');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, null, 'delete with credentials');
}

async function hold(env) {
  // One full long-poll hold with nothing changing: the SDK asks for 30 s and gives up
  // reading after 40 s; the server should answer an empty 200 after HOLD_MS, and the
  // SDK (which emits an 'error' event on a failed poll) must carry on silently. The
  // SDK cannot show that the hold expired (a later publish would end it too): the
  // Rust side asserts the server counted an expired poll.
  const c = await env.open();
  const d = 'interop.hold.properties';
  const g = 'DEFAULT_GROUP';
  await publish(c, d, g, 'held=1\n', 'initial');
  const rec = new Recorder('hold subscription');
  c.subscribe({ dataId: d, group: g }, rec.listener(d));
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'held=1\n', 'initial emit on subscribe');
  await rec.expectQuiet(HOLD_QUIET_MS, 'a full idle long-poll hold');
  check(env.sdkErrors.length === 0, 'no SDK error events during the idle hold');
  await publish(c, d, g, 'held=2\n', 'change after a full hold');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, 'held=2\n', 'change after a full hold');
  await remove(c, d, g, 'cleanup');
  await rec.expectNext(CALLBACK_TIMEOUT_MS, d, null, 'delete after a full hold');
}

const SCENARIOS = { basic, group_tenant: groupTenant, content, many, auth, hold, auth_on: authOn };

async function main() {
  const [addr, name] = process.argv.slice(2);
  if (!addr || !SCENARIOS[name]) {
    process.stderr.write(`usage: node node_client.js HOST:PORT {${Object.keys(SCENARIOS).join(',')}}\n`);
    process.exit(2);
  }
  const watchdog = setTimeout(() => {
    log(`FAIL ${name}: scenario did not finish within ${SCRIPT_TIMEOUT_MS / 1000} s`);
    process.exit(3);
  }, SCRIPT_TIMEOUT_MS);

  process.env.NODE_CLUSTER_CLIENT_PORT = String(await freePort());
  const { NacosConfigClient } = require('nacos-config');
  const version = require('nacos-config/package.json').version;
  log(`nacos-config ${version} from ${path.dirname(require.resolve('nacos-config/package.json'))}, ` +
    `node ${process.version}, server ${addr}, scenario ${name}, cluster-client port ${process.env.NODE_CLUSTER_CLIENT_PORT}`);
  const wanted = process.env.INTEROP_SDK_VERSION;
  if (wanted && wanted !== version) {
    log(`FAIL ${name}: expected nacos-config ${wanted} on NODE_PATH, found ${version}`);
    process.exit(1);
  }

  const env = new Env(addr, NacosConfigClient);
  const started = Date.now();
  let rc = 0;
  try {
    await SCENARIOS[name](env);
    // The SDK reports swallowed failures (non-200 answers it retried, long-poll errors,
    // failed re-reads) only as 'error' events; any of them is a failure here.
    if (env.sdkErrors.length) {
      throw new Failure(`the SDK emitted ${env.sdkErrors.length} error event(s), first: ` +
        `${env.sdkErrors[0] && env.sdkErrors[0].name}: ${env.sdkErrors[0] && env.sdkErrors[0].message}`);
    }
    log('ok: the SDK emitted no error events');
    log(`PASS ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    rc = 1;
    if (e instanceof Failure) {
      log(`FAIL ${name}: ${e.message}`);
    } else {
      log(`FAIL ${name}: unexpected exception: ${e && e.stack || e}`);
      if (e && e.body !== undefined) log(`   response body: ${short(e.body)}`);
    }
    if (env.sdkErrors.length) log(`   ${env.sdkErrors.length} SDK error event(s) were logged above`);
  }
  await env.close();
  clearTimeout(watchdog);
  process.exit(rc);
}

main().catch(e => {
  log(`FAIL: ${e && e.stack || e}`);
  process.exit(1);
});
