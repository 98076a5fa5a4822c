// Purpose: interop scenarios for vigil driven by the real Go SDK,
// github.com/nacos-group/nacos-sdk-go v1 (HTTP long polling), pinned in go.mod.
//
// Usage:     go-interop HOST:PORT SCENARIO
// Scenarios: basic, group_tenant, content, many, auth, auth_on, hold (see scenarios in
// scenarios.go; auth_on needs a server with auth on and INTEROP_AUTH_PASSWORD).
// Environment: INTEROP_SDK_VERSION (optional) is the SDK version that must be linked in;
// INTEROP_AUTH_USER / INTEROP_AUTH_PASSWORD the administrator of an auth-on server;
// INTEROP_TOKEN_TTL_SECS the server's token lifetime (auth_on outlives one token);
// INTEROP_HOLD_MS the server's hold of an idle 30 s poll (29.5 s by default).
// Run it from a scratch working directory: the SDK's log (logs/nacos-sdk.log) and its
// config snapshots (cache/config/) are put there. Prints one line per check and
// `PASS <scenario>` at the end; exits 0 only when every check passed (1 on a failed
// check, 2 on bad usage, 3 when the scenario's own time limit ran out).
package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/clients"
	"github.com/nacos-group/nacos-sdk-go/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/vo"
)

const (
	sdkModule = "github.com/nacos-group/nacos-sdk-go"
	// The bound: a published change reaches the listener within a second.
	changeWithin = time.Second
	// How long to wait for a callback at all, so a late one is told from a lost one.
	callbackTimeout = 10 * time.Second
	quietWait       = 2 * time.Second
	scriptTimeout   = 110 * time.Second
	// The SDK's 10 s default request timeout also bounds its constructor's login,
	// which waits for a (deliberately slow) bcrypt check on a loaded machine.
	requestTimeoutMs = 30000
)

type failure struct{ msg string }

func logf(format string, args ...interface{}) {
	fmt.Printf(format+"\n", args...)
}

func fail(format string, args ...interface{}) {
	panic(failure{fmt.Sprintf(format, args...)})
}

func check(cond bool, what string) {
	if !cond {
		fail("%s", what)
	}
	logf("ok: %s", what)
}

func short(s string) string {
	q := strconv.Quote(s)
	if len(q) > 200 {
		return fmt.Sprintf("%s...(%d bytes in all)", q[:200], len(s))
	}
	return q
}

func expectEq(actual, expected, what string) {
	if actual != expected {
		n := 0
		for n < len(actual) && n < len(expected) && actual[n] == expected[n] {
			n++
		}
		fail("%s: expected %s, got %s (lengths %d vs %d, first difference at byte %d)",
			what, short(expected), short(actual), len(expected), len(actual), n)
	}
	logf("ok: %s", what)
}

func expectNoErr(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// env holds what every scenario shares: the server, the scratch directories, the log.
type env struct {
	host     string
	port     uint64
	logDir   string
	cacheDir string
	log      sdkLog
	// Whether the scenario checked the SDK log (each must, once, at its end or before
	// it provokes errors on purpose).
	logChecked bool
}

func newEnv(addr string) *env {
	host, portText, ok := strings.Cut(addr, ":")
	port, err := strconv.ParseUint(portText, 10, 16)
	if !ok || err != nil {
		usage("address must be HOST:PORT, got " + addr)
	}
	cwd, err := os.Getwd()
	expectNoErr(err, "working directory")
	logDir := filepath.Join(cwd, "logs")
	return &env{
		host:     host,
		port:     port,
		logDir:   logDir,
		cacheDir: filepath.Join(cwd, "cache"),
		log:      sdkLog{path: filepath.Join(logDir, constant.LOG_FILE_NAME)},
	}
}

// client is one SDK config client. opts may set NamespaceId, Username, Password.
func (e *env) client(opts func(*constant.ClientConfig)) config_client.IConfigClient {
	cc := constant.ClientConfig{
		TimeoutMs:           requestTimeoutMs,
		NotLoadCacheAtStart: true,
		LogDir:              e.logDir,
		CacheDir:            e.cacheDir,
		LogLevel:            "info",
	}
	if opts != nil {
		opts(&cc)
	}
	c, err := clients.NewConfigClient(vo.NacosClientParam{
		ClientConfig:  &cc,
		ServerConfigs: []constant.ServerConfig{{IpAddr: e.host, Port: e.port, Scheme: "http", ContextPath: "/nacos"}},
	})
	expectNoErr(err, "creating a config client")
	return c
}

func namespace(ns string) func(*constant.ClientConfig) {
	return func(cc *constant.ClientConfig) { cc.NamespaceId = ns }
}

func credentials(user, password string) func(*constant.ClientConfig) {
	return func(cc *constant.ClientConfig) {
		cc.Username = user
		cc.Password = password
	}
}

func get(c config_client.IConfigClient, dataID, group string) string {
	content, err := c.GetConfig(vo.ConfigParam{DataId: dataID, Group: group})
	expectNoErr(err, fmt.Sprintf("GetConfig %s/%s", group, dataID))
	return content
}

// publish returns when PublishConfig returned true: the moment a change is measured from.
func publish(c config_client.IConfigClient, dataID, group, content, what string) time.Time {
	ok, err := c.PublishConfig(vo.ConfigParam{DataId: dataID, Group: group, Content: content})
	expectNoErr(err, "PublishConfig ("+what+")")
	check(ok, "PublishConfig -> true ("+what+")")
	return time.Now()
}

func remove(c config_client.IConfigClient, dataID, group, what string) time.Time {
	ok, err := c.DeleteConfig(vo.ConfigParam{DataId: dataID, Group: group})
	expectNoErr(err, "DeleteConfig ("+what+")")
	check(ok, "DeleteConfig -> true ("+what+")")
	return time.Now()
}

func listen(c config_client.IConfigClient, dataID, group string, r *recorder) {
	expectNoErr(c.ListenConfig(vo.ConfigParam{DataId: dataID, Group: group, OnChange: r.onChange}),
		fmt.Sprintf("ListenConfig %s/%s", group, dataID))
}

type event struct {
	namespace, group, dataID, data string
	at                             time.Time
}

// recorder collects one listener's callbacks (the SDK calls each in a goroutine).
type recorder struct {
	name   string
	events chan event
}

func newRecorder(name string) *recorder {
	return &recorder{name: name, events: make(chan event, 4096)}
}

func (r *recorder) onChange(namespace, group, dataID, data string) {
	r.events <- event{namespace, group, dataID, data, time.Now()}
}

// expectNext waits for the next callback, checks it, and (unless within is 0) checks
// it came within that long of `since`, when the change was made.
func (r *recorder) expectNext(since time.Time, within time.Duration, ns, group, dataID, data, what string) time.Duration {
	select {
	case e := <-r.events:
		expectEq(e.dataID, dataID, what+": callback dataId")
		expectEq(e.group, group, what+": callback group")
		expectEq(e.namespace, ns, what+": callback namespace")
		expectEq(e.data, data, what+": callback content")
		took := e.at.Sub(since)
		if within > 0 && took > within {
			fail("%s: %s got the change %.3f s after it was made (more than %v)", what, r.name, took.Seconds(), within)
		}
		logf("   (%s: callback after %.1f ms)", what, float64(took.Microseconds())/1000)
		return took
	case <-time.After(callbackTimeout):
		fail("%s: %s got no callback within %v", what, r.name, callbackTimeout)
	}
	return 0
}

func (r *recorder) expectQuiet(wait time.Duration, what string) {
	select {
	case e := <-r.events:
		fail("%s: %s expected no callback, got %s/%s content %s", what, r.name, e.group, e.dataID, short(e.data))
	case <-time.After(wait):
	}
	logf("ok: %s (%s: no callback within %v)", what, r.name, wait)
}

// sdkLog reads the SDK's log file (one per process, shared by its clients). Every
// answered long poll logs either "[client.ListenConfig] no change" or
// "[client.ListenConfig] config changed:<keys>", which shows whether the server woke
// a poll for a key (a callback alone cannot: the SDK drops a wake whose content md5
// did not change). ERROR and WARN lines show failures the SDK swallowed and retried.
type sdkLog struct{ path string }

const (
	wakeLine   = "[client.ListenConfig] config changed:"
	noWakeLine = "[client.ListenConfig] no change"
)

func (l sdkLog) mark() int64 {
	st, err := os.Stat(l.path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func (l sdkLog) linesSince(mark int64) []string {
	b, err := os.ReadFile(l.path)
	if err != nil || int64(len(b)) < mark {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b[mark:]), "\n"), "\n")
}

// wokenKeys lists the dataId\x02group[\x02tenant] keys that polls answered since mark.
func (l sdkLog) wokenKeys(mark int64) []string {
	var keys []string
	for _, line := range l.linesSince(mark) {
		if _, changed, ok := strings.Cut(line, wakeLine); ok {
			decoded, err := url.QueryUnescape(strings.TrimSpace(changed))
			if err != nil {
				fail("undecodable listener reply in the SDK log: %s", short(line))
			}
			for _, k := range strings.Split(decoded, "\x01") {
				if k != "" {
					keys = append(keys, k)
				}
			}
		}
	}
	return keys
}

func groupKey(dataID, group, tenant string) string {
	if tenant == "" {
		return dataID + "\x02" + group
	}
	return dataID + "\x02" + group + "\x02" + tenant
}

func (l sdkLog) woken(key string, mark int64) bool {
	for _, k := range l.wokenKeys(mark) {
		if k == key {
			return true
		}
	}
	return false
}

func (l sdkLog) expectWoken(key string, mark int64, what string) {
	check(l.woken(key, mark), fmt.Sprintf("%s: a poll returned key %s", what, strconv.Quote(key)))
}

func (l sdkLog) expectNotWoken(key string, mark int64, what string) {
	if l.woken(key, mark) {
		fail("%s: a poll returned key %s although its content did not change", what, strconv.Quote(key))
	}
	logf("ok: %s: no poll returned key %s", what, strconv.Quote(key))
}

// problems are the ERROR and WARN lines since mark, less those about a 404 (a read of
// a missing key, which the SDK logs as an error, retries, then answers "").
func (l sdkLog) problems(mark int64) []string {
	var out []string
	for _, line := range l.linesSince(mark) {
		bad := strings.Contains(line, "ERROR") || strings.Contains(line, "WARN")
		expected := strings.Contains(line, "[404] ") || strings.Contains(line, "config not found")
		if bad && !expected {
			out = append(out, line)
		}
	}
	return out
}

// checkLog fails unless the SDK log shows answered polls (so it is the log the SDK
// writes, and its silence means something) and no problem lines.
func (e *env) checkLog() {
	e.logChecked = true
	l := e.log
	polls := 0
	for _, line := range l.linesSince(0) {
		if strings.Contains(line, wakeLine) || strings.Contains(line, noWakeLine) {
			polls++
		}
	}
	if polls == 0 {
		fail("the SDK log %s shows no answered poll: it is missing or not written, so it cannot show swallowed errors", l.path)
	}
	if p := l.problems(0); len(p) > 0 {
		fail("the SDK logged %d error/warning line(s) (failures it swallowed or retried), first: %s", len(p), short(strings.Join(p[:min(len(p), 5)], "\n")))
	}
	logf("ok: the SDK log has %d answered polls and no errors or unexpected warnings", polls)
}

// waitForLine waits until a log line after mark contains text; returns when it was seen.
func (e *env) waitForLine(text string, mark int64, limit time.Duration, what string) time.Time {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, line := range e.log.linesSince(mark) {
			if strings.Contains(line, text) {
				seen := time.Now()
				logf("ok: %s (log: %s)", what, short(line))
				return seen
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fail("%s: no log line %s within %v", what, strconv.Quote(text), limit)
	return time.Time{}
}

func (l sdkLog) dump() {
	lines := l.linesSince(0)
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	logf("---- last %d lines of the SDK log (%s) ----", len(lines), l.path)
	for _, line := range lines {
		if len(line) > 400 {
			line = line[:400] + "..."
		}
		logf("   %s", line)
	}
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "%s\nusage: go-interop HOST:PORT SCENARIO (one of %s)\n", msg, strings.Join(scenarioNames(), ", "))
	os.Exit(2)
}

// linkedSDKVersion is the nacos-sdk-go version this binary was built with.
func linkedSDKVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		fail("the binary carries no build information")
	}
	for _, dep := range info.Deps {
		if dep.Path == sdkModule {
			return dep.Version
		}
	}
	fail("%s is not linked into this binary", sdkModule)
	return ""
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func main() {
	if len(os.Args) != 3 {
		usage("expected two arguments")
	}
	addr, name := os.Args[1], os.Args[2]
	run, ok := scenarios[name]
	if !ok {
		usage("unknown scenario " + name)
	}
	go func() {
		time.Sleep(scriptTimeout)
		fmt.Printf("FAIL %s: still running after %v\n", name, scriptTimeout)
		os.Exit(3)
	}()
	e := newEnv(addr)
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				f, isFailure := r.(failure)
				if !isFailure {
					f = failure{fmt.Sprintf("panic: %v\n%s", r, debug.Stack())}
				}
				fmt.Printf("FAIL %s: %s\n", name, f.msg)
				e.log.dump()
				code = 1
			}
		}()
		version := linkedSDKVersion()
		if want := os.Getenv("INTEROP_SDK_VERSION"); want != "" {
			expectEq(version, want, "linked "+sdkModule+" version")
		}
		logf("nacos-sdk-go %s against vigil at %s: scenario %s", version, addr, name)
		run(e)
		if !e.logChecked {
			fail("scenario %s never checked the SDK log", name)
		}
		fmt.Printf("PASS %s\n", name)
	}()
	os.Exit(code)
}
