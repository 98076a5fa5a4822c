package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/vo"
)

// scenarios is filled in init: its functions refer back to it (usage lists the names).
var scenarios map[string]func(*env)

func init() {
	scenarios = map[string]func(*env){
		"basic":        scenarioBasic,
		"group_tenant": scenarioGroupTenant,
		"content":      scenarioContent,
		"many":         scenarioMany,
		"auth":         scenarioAuthOff,
		"auth_on":      scenarioAuthOn,
		"hold":         scenarioHold,
	}
}

func scenarioNames() []string {
	var names []string
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Content with every character class that tends to break form or query encoding:
// CJK, `%` (also `%41`, which a double-decoding server turns into `A`), `+` (which a
// wrong decoder turns into a space), `&`, `=`, `?`, `#`, LF, CRLF, a lone CR, tabs,
// quotes, backslashes, leading and trailing whitespace and a non-BMP emoji.
const special = "  leading spaces\n" +
	"名字=值\n" +
	"中文配置: 你好，世界 ✓ 😀\r\n" +
	"plus+plus a+b=c %25 %41 %zz 100% done\r\n" +
	"amp&amp=1&x=y?q=1#frag\n" +
	"\ttab\tseparated\t\n" +
	"quotes 'single' \"double\" back\\slash\n" +
	"lone\rcr\n" +
	"\n" +
	"trailing spaces and CRLF   \r\n"

// The SDK answers a read of a missing key (404) with "" and no error, and
// reports a deleted key to its listener as "" too.
const absent = ""

// basic: publish, read, listen (change, identical re-publish, delete, re-create),
// and a blank publish, which the server refuses with 400.
func scenarioBasic(e *env) {
	c := e.client(nil)
	d, g := "interop.basic.properties", "DEFAULT_GROUP"
	expectEq(get(c, d, g), absent, "GetConfig before any publish -> \"\"")
	publish(c, d, g, "v=1\n", "first")
	expectEq(get(c, d, g), "v=1\n", "GetConfig returns the published content")

	r := newRecorder("basic listener")
	listen(c, d, g, r)
	// GetConfig wrote the snapshot the listener starts from, so the SDK reports no
	// initial change.
	r.expectQuiet(quietWait, "listening on a key this client has read")

	key := groupKey(d, g, "")
	mark := e.log.mark()
	at := publish(c, d, g, "v=2\n", "change")
	r.expectNext(at, changeWithin, "", g, d, "v=2\n", "change")
	e.log.expectWoken(key, mark, "change")
	expectEq(get(c, d, g), "v=2\n", "GetConfig after the change")

	mark = e.log.mark()
	publish(c, d, g, "v=2\n", "identical re-publish")
	r.expectQuiet(quietWait, "identical re-publish")
	e.log.expectNotWoken(key, mark, "identical re-publish")

	at = publish(c, d, g, "v=3\n", "change after an identical re-publish")
	r.expectNext(at, changeWithin, "", g, d, "v=3\n", "change after an identical re-publish")

	at = remove(c, d, g, "delete")
	r.expectNext(at, changeWithin, "", g, d, absent, "delete")
	expectEq(get(c, d, g), absent, "GetConfig after the delete -> \"\"")

	at = publish(c, d, g, "v=4\n", "re-create after the delete")
	r.expectNext(at, changeWithin, "", g, d, "v=4\n", "re-create after the delete")
	expectEq(get(c, d, g), "v=4\n", "GetConfig after the re-create")

	remove(c, "interop.never.published", g, "delete of a key that never existed")
	at = remove(c, d, g, "cleanup")
	r.expectNext(at, changeWithin, "", g, d, absent, "cleanup delete")
	e.checkLog()

	// Whitespace-only content: the server refuses it (400) and the SDK, which
	// retries a failed call three times against a single server, returns an error.
	mark = e.log.mark()
	ok, err := c.PublishConfig(vo.ConfigParam{DataId: d, Group: g, Content: "  \r\n\t "})
	check(!ok && err != nil && strings.Contains(err.Error(), "[400]"),
		fmt.Sprintf("PublishConfig of blank content fails with the server's 400 (%v)", err))
	for _, line := range e.log.problems(mark) {
		if !strings.Contains(line, "[400]") {
			fail("the refused publish logged an error that is not the 400: %s", short(line))
		}
	}
	expectEq(get(c, d, g), absent, "nothing stored by the refused publish")
	r.expectQuiet(quietWait, "the refused publish")
}

// group_tenant: a non-default group; namespace dev beside the public one, isolated in
// values and in notifications; namespace "public" read and listened as the public one.
func scenarioGroupTenant(e *env) {
	pub := e.client(nil)
	dev := e.client(namespace("dev"))
	d, g := "interop.tenant.yaml", "INTEROP_GROUP"

	publish(pub, d, g, "where: public\n", "public namespace, non-default group")
	expectEq(get(pub, d, g), "where: public\n", "public GetConfig, non-default group")
	expectEq(get(pub, d, "DEFAULT_GROUP"), absent, "the same dataId in DEFAULT_GROUP is absent")
	expectEq(get(dev, d, g), absent, "namespace dev does not see the public config")

	publish(dev, d, g, "where: dev\n", "namespace dev")
	expectEq(get(dev, d, g), "where: dev\n", "dev GetConfig")
	expectEq(get(pub, d, g), "where: public\n", "public value unchanged by the dev publish")

	rPub, rDev := newRecorder("public listener"), newRecorder("dev listener")
	listen(pub, d, g, rPub)
	listen(dev, d, g, rDev)
	rPub.expectQuiet(quietWait, "public listener armed")
	rDev.expectQuiet(0, "dev listener armed")

	pubKey, devKey := groupKey(d, g, ""), groupKey(d, g, "dev")
	mark := e.log.mark()
	at := publish(dev, d, g, "where: dev\nv: 2\n", "dev change")
	rDev.expectNext(at, changeWithin, "dev", g, d, "where: dev\nv: 2\n", "dev change")
	rPub.expectQuiet(quietWait, "public listener silent on a dev change")
	e.log.expectWoken(devKey, mark, "dev change")
	e.log.expectNotWoken(pubKey, mark, "dev change")

	mark = e.log.mark()
	at = publish(pub, d, g, "where: public\nv: 2\n", "public change")
	rPub.expectNext(at, changeWithin, "", g, d, "where: public\nv: 2\n", "public change")
	rDev.expectQuiet(quietWait, "dev listener silent on a public change")
	e.log.expectWoken(pubKey, mark, "public change")
	e.log.expectNotWoken(devKey, mark, "public change")

	at = remove(dev, d, g, "dev delete")
	rDev.expectNext(at, changeWithin, "dev", g, d, absent, "dev delete")
	expectEq(get(dev, d, g), absent, "dev GetConfig after the delete")
	expectEq(get(pub, d, g), "where: public\nv: 2\n", "the public value survives the dev delete")
	rPub.expectQuiet(quietWait/2, "public listener silent on the dev delete")

	// Namespace "public" names the public namespace on every endpoint (spec section 7).
	alias := e.client(namespace("public"))
	expectEq(get(alias, d, g), "where: public\nv: 2\n", "namespace \"public\" reads the public namespace")
	rAlias := newRecorder("namespace \"public\" listener")
	listen(alias, d, g, rAlias)
	rAlias.expectQuiet(quietWait, "namespace \"public\" listener armed")
	at = publish(pub, d, g, "where: public\nv: 3\n", "public change, also listened as namespace \"public\"")
	rPub.expectNext(at, changeWithin, "", g, d, "where: public\nv: 3\n", "public change")
	rAlias.expectNext(at, changeWithin, "public", g, d, "where: public\nv: 3\n", "public change seen by a namespace \"public\" client")

	at = remove(pub, d, g, "public delete")
	rPub.expectNext(at, changeWithin, "", g, d, absent, "public delete")
	rAlias.expectNext(at, changeWithin, "public", g, d, absent, "public delete seen by a namespace \"public\" client")
	rDev.expectQuiet(0, "dev listener silent throughout")
	e.checkLog()
}

// largeContent is deterministic multi-line content of at least n bytes.
func largeContent(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %07d: key.%d=value %d with 中文 and %%+&= symbols\r\n", i, i, i*7919)
	}
	return b.String()
}

// content: special characters, a non-ASCII group and 3 MB round-trip through
// PublishConfig and GetConfig, and reach listeners intact.
func scenarioContent(e *env) {
	c := e.client(nil)
	g, gCJK := "DEFAULT_GROUP", "配置组"
	dSpecial, dCJK, dLarge := "interop.special.txt", "interop.cjk-group.yaml", "interop.large.txt"

	publish(c, dSpecial, g, special, "special characters")
	expectEq(get(c, dSpecial, g), special, "special content round-trips exactly")
	publish(c, dCJK, gCJK, "组: 值\n", "non-ASCII group")
	expectEq(get(c, dCJK, gCJK), "组: 值\n", "non-ASCII group round-trips")
	expectEq(get(c, dCJK, g), absent, "the same dataId in another group is separate")

	big := largeContent(3 << 20)
	big2 := big[:len(big)-40] + "the last line changed: 新值 %+&=\r\n"
	t := time.Now()
	publish(c, dLarge, g, big, "3 MB content")
	got := get(c, dLarge, g)
	check(got == big, fmt.Sprintf("3 MB content (%d bytes) round-trips exactly (%d bytes read, %.2f s)", len(big), len(got), time.Since(t).Seconds()))

	rSpecial, rCJK, rLarge := newRecorder("special listener"), newRecorder("non-ASCII group listener"), newRecorder("large listener")
	listen(c, dSpecial, g, rSpecial)
	listen(c, dCJK, gCJK, rCJK)
	listen(c, dLarge, g, rLarge)
	rSpecial.expectQuiet(quietWait, "listeners armed")

	special2 := special + "changed: ü ß € %2B +\r\n"
	at := publish(c, dSpecial, g, special2, "special change")
	rSpecial.expectNext(at, changeWithin, "", g, dSpecial, special2, "special change")
	at = publish(c, dCJK, gCJK, "组: 新值 +&=\n", "non-ASCII group change")
	rCJK.expectNext(at, changeWithin, "", gCJK, dCJK, "组: 新值 +&=\n", "non-ASCII group change")
	// A 3 MB change is read back whole before the listener runs: no time bound here.
	at = publish(c, dLarge, g, big2, "3 MB change")
	rLarge.expectNext(at, 0, "", g, dLarge, big2, "3 MB change")
	rSpecial.expectQuiet(0, "special listener only hears its own key")
	rCJK.expectQuiet(0, "non-ASCII group listener only hears its own key")
	e.checkLog()
}

// many: 50 keys on one client. Listening on keys it has never read, the SDK reports
// each key's current content first; then every change reaches its own listener only.
func scenarioMany(e *env) {
	const n = 50
	c := e.client(nil)
	g := "INTEROP_MANY"
	ids := make([]string, n)
	recs := make([]*recorder, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("interop.many.%02d", i)
		recs[i] = newRecorder("listener of " + ids[i])
		publish(c, ids[i], g, "n=0 "+ids[i], "initial "+ids[i])
	}
	started := time.Now()
	for i := range ids {
		listen(c, ids[i], g, recs[i])
	}
	for i := range ids {
		recs[i].expectNext(started, 0, "", g, ids[i], "n=0 "+ids[i], "initial content of "+ids[i])
	}
	var worst time.Duration
	ats := make([]time.Time, n)
	for i := range ids {
		ats[i] = publish(c, ids[i], g, "n=1 "+ids[i], "change "+ids[i])
	}
	for i := range ids {
		if took := recs[i].expectNext(ats[i], changeWithin, "", g, ids[i], "n=1 "+ids[i], "change of "+ids[i]); took > worst {
			worst = took
		}
	}
	for i := range ids {
		recs[i].expectQuiet(0, "one callback per change for "+ids[i])
	}
	logf("   (the slowest of %d changes reached its listener in %.1f ms)", n, float64(worst.Microseconds())/1000)
	e.checkLog()
}

// auth: a client with username and password against a server whose auth is off.
func scenarioAuthOff(e *env) {
	c := e.client(credentials("nacos", "any password"))
	d, g := "interop.auth.properties", "DEFAULT_GROUP"
	publish(c, d, g, "auth=off\n", "with credentials, auth off")
	expectEq(get(c, d, g), "auth=off\n", "GetConfig with credentials")
	r := newRecorder("credentials listener")
	listen(c, d, g, r)
	r.expectQuiet(quietWait, "listener armed")
	at := publish(c, d, g, "auth=off\nv=2\n", "change")
	r.expectNext(at, changeWithin, "", g, d, "auth=off\nv=2\n", "change")
	at = remove(c, d, g, "delete")
	r.expectNext(at, changeWithin, "", g, d, absent, "delete")
	e.checkLog()
}

// auth_on: a client that logs in works (its token in the query of every request, the
// long poll's included) and keeps working past its first token's lifetime (the SDK
// logs in again before it ends); an anonymous client and a wrong password are refused.
func scenarioAuthOn(e *env) {
	user := envOr("INTEROP_AUTH_USER", "nacos")
	password := os.Getenv("INTEROP_AUTH_PASSWORD")
	if password == "" {
		usage("auth_on needs INTEROP_AUTH_PASSWORD")
	}
	created := time.Now()
	c := e.client(credentials(user, password))
	dev := e.client(func(cc *constant.ClientConfig) { credentials(user, password)(cc); namespace("dev")(cc) })
	d, g := "interop.auth-on.properties", "DEFAULT_GROUP"
	publish(c, d, g, "auth=on\n", "logged in")
	expectEq(get(c, d, g), "auth=on\n", "GetConfig logged in")
	publish(dev, d, g, "auth=on\nns=dev\n", "logged in, namespace dev")
	expectEq(get(dev, d, g), "auth=on\nns=dev\n", "GetConfig logged in, namespace dev")
	r, rDev := newRecorder("logged-in listener"), newRecorder("logged-in dev listener")
	listen(c, d, g, r)
	listen(dev, d, g, rDev)
	r.expectQuiet(quietWait, "listeners armed")
	at := publish(c, d, g, "auth=on\nv=2\n", "change")
	r.expectNext(at, changeWithin, "", g, d, "auth=on\nv=2\n", "change")
	at = publish(dev, d, g, "auth=on\nns=dev\nv=2\n", "dev change")
	rDev.expectNext(at, changeWithin, "dev", g, d, "auth=on\nns=dev\nv=2\n", "dev change")
	r.expectQuiet(0, "public listener silent on the dev change")

	if ttlText := os.Getenv("INTEROP_TOKEN_TTL_SECS"); ttlText != "" {
		ttl, err := strconv.Atoi(ttlText)
		expectNoErr(err, "INTEROP_TOKEN_TTL_SECS")
		past := created.Add(time.Duration(ttl+2) * time.Second)
		logf("   waiting %.1f s, until the first token has expired", time.Until(past).Seconds())
		time.Sleep(time.Until(past))
		at = publish(c, d, g, "auth=on\nv=3\n", "change after the first token expired")
		r.expectNext(at, changeWithin, "", g, d, "auth=on\nv=3\n", "change after the first token expired")
		expectEq(get(c, d, g), "auth=on\nv=3\n", "GetConfig after the first token expired")
	}
	at = remove(c, d, g, "delete")
	r.expectNext(at, changeWithin, "", g, d, absent, "delete")
	remove(dev, d, g, "dev delete")
	e.checkLog()

	// Refusals are logged as errors (and retried), so they come after the check.
	publish(c, d, g, "auth=on\nv=4\n", "before the refusals")
	anon := e.client(nil)
	_, err := anon.GetConfig(vo.ConfigParam{DataId: d, Group: g})
	check(err != nil && strings.Contains(err.Error(), "forbidden"), fmt.Sprintf("anonymous GetConfig is refused (%v)", err))
	ok, err := anon.PublishConfig(vo.ConfigParam{DataId: d, Group: g, Content: "anonymous"})
	check(!ok && err != nil && strings.Contains(err.Error(), "[403]"), fmt.Sprintf("anonymous PublishConfig is refused with 403 (%v)", err))
	wrong := e.client(credentials(user, password+"-wrong"))
	_, err = wrong.GetConfig(vo.ConfigParam{DataId: d, Group: g})
	check(err != nil && strings.Contains(err.Error(), "forbidden"), fmt.Sprintf("GetConfig with a wrong password is refused (%v)", err))
	expectEq(get(c, d, g), "auth=on\nv=4\n", "the refused publish changed nothing")
}

// hold: one idle long poll runs the server's whole hold (29.5 s for the SDK's fixed
// 30 s request, inside its 33 s read timeout) and comes back empty, with no error or
// timeout logged; a change after it still arrives within a second.
func scenarioHold(e *env) {
	holdMs, err := strconv.Atoi(envOr("INTEROP_HOLD_MS", "29500"))
	expectNoErr(err, "INTEROP_HOLD_MS")
	hold := time.Duration(holdMs) * time.Millisecond
	c := e.client(nil)
	d, g := "interop.hold.properties", "DEFAULT_GROUP"
	publish(c, d, g, "hold=1\n", "before the hold")
	expectEq(get(c, d, g), "hold=1\n", "GetConfig before the hold")
	r := newRecorder("hold listener")
	mark := e.log.mark()
	listen(c, d, g, r)
	// A new listener's first poll asks the server not to hold it; the next one parks.
	first := e.waitForLine(noWakeLine, mark, callbackTimeout, "the first (not held) poll of a new listener")
	mark = e.log.mark()
	second := e.waitForLine(noWakeLine, mark, hold+15*time.Second, "the held poll coming back empty")
	held := second.Sub(first)
	check(held >= hold-500*time.Millisecond && held <= hold+8*time.Second,
		fmt.Sprintf("the idle poll was held %.2f s (server hold %.1f s)", held.Seconds(), hold.Seconds()))
	r.expectQuiet(0, "no callback during the hold")
	at := publish(c, d, g, "hold=2\n", "change after the hold")
	r.expectNext(at, changeWithin, "", g, d, "hold=2\n", "change after the hold")
	e.checkLog()
}
