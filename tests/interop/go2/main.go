// Purpose: gRPC interop scenarios for vigil driven by the real Go SDK,
// github.com/nacos-group/nacos-sdk-go/v2 (Nacos 2.x gRPC), pinned in go.mod.
//
// Usage:     go2-interop HOST:PORT[,HOST:PORT...] SCENARIO
// The addresses are HTTP ones; the SDK talks gRPC on each port + 1000.
// Scenarios: basic, listen, namespace, auth_on, restart, failover (see `scenarios`).
// Environment: INTEROP_SDK_VERSION (optional) is the SDK version that must be linked in;
// INTEROP_AUTH_USER / INTEROP_AUTH_PASSWORD the administrator of an auth-on server.
//
// restart and failover stop half-way: they print `AWAIT <what>` and read one line from
// stdin, the HTTP address (HOST:PORT) of a live server, once the test has restarted the
// server (restart) or stopped the node the client is connected to (failover).
// Run it from a scratch working directory (the SDK writes logs/ and cache/ there).
// Prints one line per check and `PASS <scenario>` at the end; exits 0 only when every
// check passed (1 on a failed check, 2 on bad usage, 3 when its time limit ran out).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

const (
	sdkModule = "github.com/nacos-group/nacos-sdk-go/v2"
	// How long to wait for a push at all (speed is a benchmark's job, not a test's).
	pushTimeout = 10 * time.Second
	// After a restart or failover the SDK first has to notice and reconnect.
	reconnectTimeout = 40 * time.Second
	quietWait        = 2 * time.Second
	// A pause between adding listeners and the first change. The SDK may register a
	// new listener only in its next 5 s round: the first push may take that long.
	listenSettle = 500 * time.Millisecond
	// After a push, until the SDK's listen round that delivered it has ended.
	roundSettle      = time.Second
	scriptTimeout    = 130 * time.Second
	requestTimeoutMs = 10000
)

type failure struct{ msg string }

func logf(format string, args ...interface{}) { fmt.Printf(format+"\n", args...) }

func fail(format string, args ...interface{}) { panic(failure{fmt.Sprintf(format, args...)}) }

func check(cond bool, what string) {
	if !cond {
		fail("%s", what)
	}
	logf("ok: %s", what)
}

func expectEq(actual, expected, what string) {
	if actual != expected {
		fail("%s: expected %q, got %q", what, expected, actual)
	}
	logf("ok: %s", what)
}

func expectNoErr(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

type server struct {
	host string
	port uint64
}

func parseAddrs(list string) []server {
	var out []server
	for _, a := range strings.Split(list, ",") {
		host, portText, ok := strings.Cut(a, ":")
		port, err := strconv.ParseUint(portText, 10, 16)
		if !ok || err != nil {
			usage("each address must be HOST:PORT, got " + a)
		}
		out = append(out, server{host, port})
	}
	return out
}

type env struct {
	servers []server
	// HTTP address used for publishes made outside the SDK.
	http string
	dir  string
}

func (e *env) client(ns, user, password string) (config_client.IConfigClient, error) {
	cc := constant.ClientConfig{
		TimeoutMs:           requestTimeoutMs,
		NamespaceId:         ns,
		NotLoadCacheAtStart: true,
		DisableUseSnapShot:  true,
		LogDir:              filepath.Join(e.dir, "logs"),
		CacheDir:            filepath.Join(e.dir, "cache"),
		LogLevel:            "info",
		Username:            user,
		Password:            password,
	}
	var scs []constant.ServerConfig
	for _, s := range e.servers {
		scs = append(scs, constant.ServerConfig{IpAddr: s.host, Port: s.port, Scheme: "http", ContextPath: "/nacos"})
	}
	return clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: scs})
}

func (e *env) mustClient(ns, user, password string) config_client.IConfigClient {
	c, err := e.client(ns, user, password)
	expectNoErr(err, "creating a config client")
	return c
}

// httpPublish is a publish made outside the SDK: `POST /nacos/v1/cs/configs`.
// It returns when the request was sent, the moment a push is measured from (the push
// may arrive before the reply).
func (e *env) httpPublish(dataID, group, tenant, content string) time.Time {
	sent := time.Now()
	form := url.Values{"dataId": {dataID}, "group": {group}, "content": {content}}
	if tenant != "" {
		form.Set("tenant", tenant)
	}
	resp, err := http.PostForm("http://"+e.http+"/nacos/v1/cs/configs", form)
	expectNoErr(err, "HTTP publish of "+dataID)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "true" {
		fail("HTTP publish of %s: %d %q", dataID, resp.StatusCode, body)
	}
	return sent
}

// httpType is the Config-Type header of a plain HTTP read (the SDK's GetConfig has no type).
func (e *env) httpType(dataID, group string) string {
	q := url.Values{"dataId": {dataID}, "group": {group}}
	resp, err := http.Get("http://" + e.http + "/nacos/v1/cs/configs?" + q.Encode())
	expectNoErr(err, "HTTP read of "+dataID)
	resp.Body.Close()
	return resp.Header.Get("Config-Type")
}

func get(c config_client.IConfigClient, dataID, group string) (string, error) {
	return c.GetConfig(vo.ConfigParam{DataId: dataID, Group: group})
}

func publish(c config_client.IConfigClient, p vo.ConfigParam, what string) time.Time {
	ok, err := c.PublishConfig(p)
	expectNoErr(err, "PublishConfig ("+what+")")
	check(ok, "PublishConfig -> true ("+what+")")
	return time.Now()
}

type event struct {
	namespace, group, dataID, data string
	at                             time.Time
}

type recorder struct{ events chan event }

func newRecorder() *recorder { return &recorder{events: make(chan event, 1024)} }

func (r *recorder) listen(c config_client.IConfigClient, dataID, group string) {
	onChange := func(ns, g, d, data string) { r.events <- event{ns, g, d, data, time.Now()} }
	expectNoErr(c.ListenConfig(vo.ConfigParam{DataId: dataID, Group: group, OnChange: onChange}),
		"ListenConfig "+group+"/"+dataID)
}

// expectPush waits for the push of exactly this content, skipping pushes of other keys'
// older values is not allowed: the next push must be this one.
func (r *recorder) expectPush(since time.Time, limit time.Duration, dataID, group, data, what string) {
	select {
	case ev := <-r.events:
		expectEq(ev.dataID+"/"+ev.group, dataID+"/"+group, what+": pushed key")
		expectEq(ev.data, data, what+": pushed content")
		logf("   (%s: pushed %.1f ms after the publish)", what, float64(ev.at.Sub(since).Microseconds())/1000)
		// v2.3.2 calls the listener in the middle of a listen round, which then marks
		// every key it did not see change as in sync with the server, from copies taken
		// before: a push for another key arriving meanwhile is forgotten (until the
		// full sync, minutes later). Let the round end before the next change.
		time.Sleep(roundSettle)
	case <-time.After(limit):
		fail("%s: no push within %v", what, limit)
	}
}

func (r *recorder) expectQuiet(what string) {
	select {
	case ev := <-r.events:
		fail("%s: expected no push, got %s/%s %q", what, ev.group, ev.dataID, ev.data)
	case <-time.After(quietWait):
	}
	logf("ok: %s (no push within %v)", what, quietWait)
}

// await prints `AWAIT what` and returns the HTTP address the test answers with.
func await(in *bufio.Reader, what string) string {
	logf("AWAIT %s", what)
	line, err := in.ReadString('\n')
	expectNoErr(err, "reading the answer to AWAIT "+what)
	return strings.TrimSpace(line)
}

func stamp() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

var scenarios = map[string]func(*env, *bufio.Reader){
	// Get (miss, hit), publish (content and type round-trip), remove.
	"basic": func(e *env, _ *bufio.Reader) {
		c := e.mustClient("", "", "")
		id, group := "go2-basic-"+stamp(), "GO2_GROUP"
		content, err := get(c, id, group)
		check(err == nil && content == "", fmt.Sprintf("GetConfig of a missing key -> \"\", no error (got %q, %v)", content, err))
		publish(c, vo.ConfigParam{DataId: id, Group: group, Content: "a: 1\n", Type: "yaml"}, "new key")
		content, err = get(c, id, group)
		expectNoErr(err, "GetConfig after publish")
		expectEq(content, "a: 1\n", "GetConfig returns the published content")
		expectEq(e.httpType(id, group), "yaml", "the published type is stored")
		publish(c, vo.ConfigParam{DataId: id, Group: group, Content: "{\"a\": 2}", Type: "json"}, "update")
		content, err = get(c, id, group)
		expectNoErr(err, "GetConfig after update")
		expectEq(content, "{\"a\": 2}", "GetConfig returns the updated content")
		expectEq(e.httpType(id, group), "json", "the updated type is stored")
		ok, err := c.DeleteConfig(vo.ConfigParam{DataId: id, Group: group})
		expectNoErr(err, "DeleteConfig")
		check(ok, "DeleteConfig -> true")
		content, err = get(c, id, group)
		check(err == nil && content == "", fmt.Sprintf("GetConfig after remove -> \"\" (got %q, %v)", content, err))
	},
	// Listeners on three keys; a publish by HTTP and one by the SDK reach each.
	"listen": func(e *env, _ *bufio.Reader) {
		c := e.mustClient("", "", "")
		writer := e.mustClient("", "", "")
		group, base := "DEFAULT_GROUP", "go2-listen-"+stamp()
		recs := make([]*recorder, 3)
		for i := range recs {
			recs[i] = newRecorder()
			recs[i].listen(c, fmt.Sprintf("%s-%d", base, i), group)
		}
		time.Sleep(listenSettle)
		for i, r := range recs {
			id := fmt.Sprintf("%s-%d", base, i)
			v := fmt.Sprintf("http %d", i)
			r.expectPush(e.httpPublish(id, group, "", v), pushTimeout, id, group, v, "HTTP publish of "+id)
			v = fmt.Sprintf("sdk %d", i)
			r.expectPush(publish(writer, vo.ConfigParam{DataId: id, Group: group, Content: v}, id), pushTimeout, id, group, v, "SDK publish of "+id)
		}
		for _, r := range recs {
			r.expectQuiet("no other key's change reached this listener")
		}
	},
	// The same key in the public namespace and in `dev` are two configs.
	"namespace": func(e *env, _ *bufio.Reader) {
		pub := e.mustClient("", "", "")
		dev := e.mustClient("dev", "", "")
		id, group := "go2-ns-"+stamp(), "DEFAULT_GROUP"
		rPub, rDev := newRecorder(), newRecorder()
		rPub.listen(pub, id, group)
		rDev.listen(dev, id, group)
		time.Sleep(listenSettle)
		rDev.expectPush(publish(dev, vo.ConfigParam{DataId: id, Group: group, Content: "in dev"}, "dev"), pushTimeout, id, group, "in dev", "dev publish")
		rPub.expectQuiet("a publish in dev does not reach the public listener")
		content, err := get(pub, id, group)
		check(err == nil && content == "", fmt.Sprintf("the key is still missing in public (got %q, %v)", content, err))
		rPub.expectPush(publish(pub, vo.ConfigParam{DataId: id, Group: group, Content: "in public"}, "public"), pushTimeout, id, group, "in public", "public publish")
		rDev.expectQuiet("a publish in public does not reach the dev listener")
		content, err = get(dev, id, group)
		expectNoErr(err, "GetConfig in dev")
		expectEq(content, "in dev", "dev keeps its own content")
		rDev.expectPush(e.httpPublish(id, group, "dev", "dev by http"), pushTimeout, id, group, "dev by http", "HTTP publish with tenant=dev")
		rPub.expectQuiet("the HTTP publish in dev does not reach the public listener")
	},
	// Auth on: username and password work (get, publish, listen); a wrong password does not.
	"auth_on": func(e *env, _ *bufio.Reader) {
		user, password := os.Getenv("INTEROP_AUTH_USER"), os.Getenv("INTEROP_AUTH_PASSWORD")
		if user == "" || password == "" {
			usage("auth_on needs INTEROP_AUTH_USER and INTEROP_AUTH_PASSWORD")
		}
		c := e.mustClient("", user, password)
		id, group := "go2-auth-"+stamp(), "DEFAULT_GROUP"
		r := newRecorder()
		r.listen(c, id, group)
		time.Sleep(listenSettle)
		r.expectPush(publish(c, vo.ConfigParam{DataId: id, Group: group, Content: "secret"}, "logged in"), pushTimeout, id, group, "secret", "logged-in publish")
		content, err := get(c, id, group)
		expectNoErr(err, "GetConfig logged in")
		expectEq(content, "secret", "GetConfig logged in")
		bad, err := e.client("", user, password+"-wrong")
		if err != nil {
			logf("ok: a client with a wrong password is refused at creation (%v)", err)
			return
		}
		content, err = get(bad, id, group)
		check(err != nil && content == "", fmt.Sprintf("GetConfig with a wrong password fails (got %q, %v)", content, err))
		ok, err := bad.PublishConfig(vo.ConfigParam{DataId: id, Group: group, Content: "forged"})
		check(err != nil && !ok, fmt.Sprintf("PublishConfig with a wrong password fails (got %v, %v)", ok, err))
		content, err = get(c, id, group)
		expectNoErr(err, "GetConfig after the refused publish")
		expectEq(content, "secret", "the refused publish changed nothing")
	},
	// The server restarts on the same ports and data: the client reconnects, still pushed to.
	"restart": func(e *env, in *bufio.Reader) {
		c := e.mustClient("", "", "")
		id, group := "go2-restart-"+stamp(), "DEFAULT_GROUP"
		r := newRecorder()
		r.listen(c, id, group)
		time.Sleep(listenSettle)
		r.expectPush(e.httpPublish(id, group, "", "before"), pushTimeout, id, group, "before", "push before the restart")
		e.http = await(in, "restart")
		r.expectPush(e.httpPublish(id, group, "", "after"), reconnectTimeout, id, group, "after", "push after the restart")
		publish(c, vo.ConfigParam{DataId: id, Group: group, Content: "sdk after"}, "after the restart")
		r.expectPush(time.Now(), pushTimeout, id, group, "sdk after", "SDK publish after the restart")
	},
	// Two nodes; the one the client is connected to stops: it moves to the other.
	"failover": func(e *env, in *bufio.Reader) {
		check(len(e.servers) >= 2, "failover is given two servers")
		c := e.mustClient("", "", "")
		id, group := "go2-failover-"+stamp(), "DEFAULT_GROUP"
		r := newRecorder()
		r.listen(c, id, group)
		time.Sleep(listenSettle)
		r.expectPush(e.httpPublish(id, group, "", "before"), pushTimeout, id, group, "before", "push before the failover")
		e.http = await(in, "failover")
		r.expectPush(e.httpPublish(id, group, "", "after"), reconnectTimeout, id, group, "after", "push after the failover")
		content, err := get(c, id, group)
		expectNoErr(err, "GetConfig after the failover")
		expectEq(content, "after", "GetConfig after the failover")
	},
}

const scenarioNames = "basic, listen, namespace, auth_on, restart, failover"

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "%s\nusage: go2-interop HOST:PORT[,HOST:PORT] SCENARIO (one of %s)\n", msg, scenarioNames)
	os.Exit(2)
}

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

func main() {
	if len(os.Args) != 3 {
		usage("expected two arguments")
	}
	name := os.Args[2]
	run, ok := scenarios[name]
	if !ok {
		usage("unknown scenario " + name)
	}
	servers := parseAddrs(os.Args[1])
	go func() {
		time.Sleep(scriptTimeout)
		fmt.Printf("FAIL %s: the scenario's own time limit of %v ran out\n", name, scriptTimeout)
		os.Exit(3)
	}()
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(failure); ok {
				fmt.Printf("FAIL %s: %s\n", name, f.msg)
				os.Exit(1)
			}
			panic(r)
		}
	}()
	version := linkedSDKVersion()
	if want := os.Getenv("INTEROP_SDK_VERSION"); want != "" {
		expectEq(version, want, "the linked nacos-sdk-go/v2 version")
	}
	cwd, err := os.Getwd()
	expectNoErr(err, "working directory")
	e := &env{servers: servers, http: strings.Split(os.Args[1], ",")[0], dir: cwd}
	logf("nacos-sdk-go/v2 %s, scenario %s against %s", version, name, os.Args[1])
	run(e, bufio.NewReader(os.Stdin))
	fmt.Printf("PASS %s\n", name)
	os.Exit(0)
}
