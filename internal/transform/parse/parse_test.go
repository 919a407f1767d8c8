package parse

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/codec"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform/transformtest"
)

func newParser(t testing.TB, set func(c *Config)) (*Parser, component.Context) {
	t.Helper()
	c := NewConfig()
	set(c)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, _ := transformtest.Context(Type)
	return New(ctx, c), ctx
}

// encode returns what a JSON sink would write for the events, without the
// stream metadata.
func encode(evs []event.Event) []string {
	var out []string
	for _, e := range evs {
		e.Meta = nil
		out = append(out, string(codec.AppendJSON(nil, &e)))
	}
	return out
}

func run(t testing.TB, p *Parser, meta *event.Meta, lines ...string) []string {
	t.Helper()
	out := &transformtest.Collector{}
	if _, err := transformtest.Process(p, out, transformtest.Events(meta, lines...)...); err != nil {
		t.Fatal(err)
	}
	return encode(out.Events())
}

var plain = event.NewMeta("s", nil)

func TestFormats(t *testing.T) {
	ts := `"timestamp":"2026-12-07T10:00:00Z"`
	for _, c := range []struct {
		name string
		set  func(*Config)
		in   string
		want string
	}{
		{"json", func(c *Config) { c.Format = "json" }, `{"level":"info","n":1}`,
			`{` + ts + `,"message":"{\"level\":\"info\",\"n\":1}","level":"info","n":1}`},
		{"json target", func(c *Config) { c.Format = "json"; c.Target = "app" }, `{"a":1}`,
			`{` + ts + `,"message":"{\"a\":1}","app":{"a":1}}`},
		{"json drop original", func(c *Config) { c.Format = "json"; c.DropOriginal = true; c.MessageField = "msg" }, `{"msg":"hi","a":1}`,
			`{` + ts + `,"message":"hi","a":1}`},
		{"json drop original escaped, last one counts", func(c *Config) { c.Format = "json"; c.DropOriginal = true; c.MessageField = "msg" },
			`{"msg":"no","a":{"msg":"nested"},"msg":"say \"hi\"\tC:\\x"}`,
			`{` + ts + `,"message":"say \"hi\"\tC:\\x","a":{"msg":"nested"}}`},
		{"json drop original not a string", func(c *Config) { c.Format = "json"; c.DropOriginal = true; c.MessageField = "msg" },
			`{"a":1,"msg":{"b":[2]}}`, `{` + ts + `,"message":"{\"b\":[2]}","a":1}`},
		{"json drop original absent", func(c *Config) { c.Format = "json"; c.DropOriginal = true }, `{"a":1}`,
			`{` + ts + `,"message":"","a":1}`},
		{"json drop original target", func(c *Config) {
			c.Format, c.DropOriginal, c.MessageField, c.Target = "json", true, "msg", "app"
		}, `{"msg":"hi","a":1}`, `{` + ts + `,"message":"hi","app":{"a":1}}`},
		{"json timestamp", func(c *Config) {
			c.Format = "json"
			c.TimestampField = "ts"
			c.TimestampFormat = "unix_ms"
		}, `{"ts":1765101600500}`,
			`{"timestamp":"2025-12-07T10:00:00.5Z","message":"{\"ts\":1765101600500}","ts":1765101600500}`},
		{"logfmt", func(c *Config) { c.Format = "logfmt" }, `level=info msg="a \"b\"" debug`,
			`{` + ts + `,"message":"level=info msg=\"a \\\"b\\\"\" debug","level":"info","msg":"a \"b\"","debug":true}`},
		{"regex", func(c *Config) { c.Format = "regex"; c.Pattern = `^(?P<ip>\S+) (?P<code>\d+)` }, `10.0.0.1 404 x`,
			`{` + ts + `,"message":"10.0.0.1 404 x","ip":"10.0.0.1","code":"404"}`},
		{"cri", func(c *Config) { c.Format = "cri" }, `2026-12-07T17:20:11.5Z stderr F boom`,
			`{"timestamp":"2026-12-07T17:20:11.5Z","message":"boom","stream":"stderr"}`},
		{"docker", func(c *Config) { c.Format = "docker" }, `{"log":"hi\n","stream":"stdout","time":"2026-12-07T17:20:11Z"}`,
			`{"timestamp":"2026-12-07T17:20:11Z","message":"hi","stream":"stdout"}`},
		{"syslog 5424", func(c *Config) { c.Format = "syslog" },
			`<165>1 2026-12-07T22:14:15.003Z host1 app 1234 ID47 [exampleSDID@32473 iut="3" eventSource="App"] An application event`,
			`{"timestamp":"2026-12-07T22:14:15.003Z","message":"An application event","facility":"local4","severity":"notice","version":1,"hostname":"host1","appname":"app","procid":"1234","msgid":"ID47","structured_data":{"exampleSDID@32473":{"iut":"3","eventSource":"App"}}}`},
		{"syslog 3164", func(c *Config) { c.Format = "syslog" }, `<34>Dec  6 22:14:15 mymachine su[99]: 'su root' failed`,
			`{"timestamp":"2026-12-06T22:14:15Z","message":"'su root' failed","facility":"auth","severity":"crit","hostname":"mymachine","appname":"su","procid":"99"}`},
		{"syslog file", func(c *Config) { c.Format = "syslog" }, `Dec  7 09:00:01 node1 CRON: job ran`,
			`{"timestamp":"2026-12-07T09:00:01Z","message":"job ran","hostname":"node1","appname":"CRON"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, _ := newParser(t, c.set)
			got := run(t, p, plain, c.in)
			if len(got) != 1 || got[0] != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestParsedFieldsReplaceExistingOnes(t *testing.T) {
	p, _ := newParser(t, func(c *Config) { c.Format = "logfmt" })
	e := transformtest.Events(plain, "a=new")[0]
	e.Fields = event.NewFields(event.Field{Key: "a", Value: event.StringValue("old")}, event.Field{Key: "b", Value: event.IntValue(1)})
	out := &transformtest.Collector{}
	if _, err := transformtest.Process(p, out, e); err != nil {
		t.Fatal(err)
	}
	f := out.Events()[0].Fields
	if a, _ := f.Lookup("a"); a.Str() != "new" || f.Len() != 2 {
		t.Fatalf("%s", f.AppendJSON(nil))
	}
}

func TestFailureKeepsOrDrops(t *testing.T) {
	p, ctx := newParser(t, func(c *Config) { c.Format = "json" })
	got := run(t, p, plain, `not json`, `{"ok":1}`)
	if len(got) != 2 || !strings.Contains(got[0], `"message":"not json","parse_error":"invalid JSON at offset 0: not a JSON object"`) {
		t.Fatalf("%s", got)
	}
	p, ctx = newParser(t, func(c *Config) { c.Format = "json"; c.OnFailure = "drop" })
	out := &transformtest.Collector{}
	res, _ := transformtest.Process(p, out, transformtest.Events(plain, `nope`, `{"a":1}`)...)
	if len(out.Events()) != 1 || transformtest.Discarded(ctx, "parse_failed") != 1 {
		t.Fatal("a failed line is not dropped and counted")
	}
	out.Release(event.Delivered)
	if done, ok := res.Done(); !done || !ok {
		t.Fatal("the batch is not acknowledged")
	}
}

func TestBadTimestampKeepsTheEventsTime(t *testing.T) {
	p, _ := newParser(t, func(c *Config) { c.Format = "json"; c.TimestampField = "t" })
	got := run(t, p, plain, `{"t":"yesterday"}`)
	if !strings.Contains(got[0], `"timestamp":"2026-12-07T10:00:00Z"`) || !strings.Contains(got[0], `"parse_error":"timestamp field \"t\"`) {
		t.Fatal(got)
	}
}

func TestHintsChooseTheFormatPerTask(t *testing.T) {
	p, _ := newParser(t, func(c *Config) { c.Format = "" })
	jsonTask := transformtest.Meta("prod", "api", "drover.parser=json")
	logfmtTask := transformtest.Meta("prod", "worker", "drover.parser=logfmt")
	noHint := transformtest.Meta("prod", "web")
	none := transformtest.Meta("prod", "raw", "drover.parser=none")
	out := &transformtest.Collector{}
	evs := append(transformtest.Events(jsonTask, `{"a":1}`), transformtest.Events(logfmtTask, `b=2`)...)
	evs = append(evs, transformtest.Events(noHint, `{"c":3}`)...)
	evs = append(evs, transformtest.Events(none, `{"d":4}`)...)
	if _, err := transformtest.Process(p, out, evs...); err != nil {
		t.Fatal(err)
	}
	got := out.Events()
	if a, _ := got[0].Fields.Lookup("a"); a.Int() != 1 {
		t.Error("the json hint was not applied")
	}
	if b, _ := got[1].Fields.Lookup("b"); b.Str() != "2" {
		t.Error("the logfmt hint was not applied")
	}
	if got[2].Fields != nil || got[3].Fields != nil {
		t.Error("lines without a hint (or with none) must pass unchanged")
	}
	p, _ = newParser(t, func(c *Config) { c.Format = "logfmt"; c.Hints = false })
	out = &transformtest.Collector{}
	transformtest.Process(p, out, transformtest.Events(jsonTask, `x=1`)...)
	if x, _ := out.Events()[0].Fields.Lookup("x"); x.Str() != "1" {
		t.Error("with hints off the configured format applies")
	}
}

func TestValidate(t *testing.T) {
	for name, set := range map[string]func(*Config){
		"no format without hints": func(c *Config) { c.Hints = false },
		"regex without pattern":   func(c *Config) { c.Format = "regex" },
		"pattern without regex":   func(c *Config) { c.Format = "json"; c.Pattern = "x" },
		"bad regex":               func(c *Config) { c.Format = "regex"; c.Pattern = "(" },
		"no named group":          func(c *Config) { c.Format = "regex"; c.Pattern = "(a)" },
		"bad time format":         func(c *Config) { c.Format = "json"; c.TimestampFormat = "iso" },
	} {
		c := NewConfig()
		set(c)
		if c.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func benchLines(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// appLine is a JSON line as bench/gen writes them: a header, the fields
// of a request log and a message with quotes, backslashes, tabs and
// non-ASCII words to unescape.
func appLine(i int) string {
	return fmt.Sprintf(`{"ts":1765184400%09d,"sid":0,"seq":%d,"level":"info","caller":"server.go:212","method":"GET","path":"/api/v1/orders","status":200,"duration_ms":%d,"trace_id":"4f1c9a0e2b7d8c3f5a6e1d0b9c8a7f6e","msg":"request completed upstream café \"quoted\" Zürich C:\\tmp\\x connection reset by peer tab\there 東京 retrying in cache miss for key user session expired token refreshed naïve query took rows returned payload validated"}`, i, i, i%2000)
}

func BenchmarkParse(b *testing.B) {
	for _, c := range []struct {
		name string
		set  func(*Config)
		line func(i int) string
	}{
		{"json", func(c *Config) { c.Format = "json" }, func(i int) string {
			return fmt.Sprintf(`{"time":"2026-12-07T10:00:00.123Z","level":"info","msg":"request %d served","method":"GET","path":"/api/v1/users/42","status":200,"duration_ms":12.5}`, i)
		}},
		// A line of the end-to-end benchmark's generator (bench/gen):
		// parsed keeping the line as the message, and as the transform
		// scenario ships it, the line's msg the message.
		{"json_app_keep", func(c *Config) { c.Format = "json" }, appLine},
		{"json_app_drop_original", func(c *Config) {
			c.Format, c.DropOriginal, c.MessageField = "json", true, "msg"
			c.TimestampField, c.TimestampFormat = "ts", "unix_ns"
		}, appLine},
		{"json_timestamp", func(c *Config) { c.Format = "json"; c.TimestampField = "time" }, func(i int) string {
			return fmt.Sprintf(`{"time":"2026-12-07T10:00:00.123Z","level":"info","msg":"request %d served","status":200}`, i)
		}},
		{"logfmt", func(c *Config) { c.Format = "logfmt" }, func(i int) string {
			return fmt.Sprintf(`time=2026-12-07T10:00:00.123Z level=info msg="request %d served" method=GET path=/api/v1/users/42 status=200`, i)
		}},
		{"regex", func(c *Config) {
			c.Format = "regex"
			c.Pattern = `^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d+)`
		}, func(i int) string {
			return fmt.Sprintf(`10.0.0.%d - - [07/Dec/2026:10:00:00 +0000] "GET /api/v1/users/42 HTTP/1.1" 200 512`, i%255)
		}},
		{"cri", func(c *Config) { c.Format = "cri" }, func(i int) string {
			return fmt.Sprintf(`2026-12-07T17:20:11.123456789Z stdout F request %d served`, i)
		}},
		{"docker", func(c *Config) { c.Format = "docker" }, func(i int) string {
			return fmt.Sprintf(`{"log":"request %d served\n","stream":"stdout","time":"2026-12-07T17:20:11.123456789Z"}`, i)
		}},
		{"syslog", func(c *Config) { c.Format = "syslog" }, func(i int) string {
			return fmt.Sprintf(`<165>1 2026-12-07T22:14:15.003Z host1 app 1234 ID47 - request %d served`, i)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, _ := newParser(b, c.set)
			transformtest.Bench(b, p, &transformtest.Sink{}, transformtest.Events(transformtest.Meta("prod", "api"), benchLines(512, c.line)...))
		})
	}
}

// fuzzFormat parses arbitrary lines: no panic, and every event that comes
// out encodes as valid JSON.
func fuzzFormat(f *testing.F, set func(*Config), seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	p, _ := newParser(f, set)
	f.Fuzz(func(t *testing.T, line string) {
		out := &transformtest.Collector{}
		ev := event.Event{Timestamp: time.Unix(1, 0), Message: []byte(line), Meta: plain}
		if _, err := transformtest.Process(p, out, ev); err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Events() {
			if enc := codec.AppendJSON(nil, &e); !json.Valid(enc) {
				t.Fatalf("%q encodes as invalid JSON: %s", line, enc)
			}
		}
	})
}

func FuzzLogfmt(f *testing.F) {
	fuzzFormat(f, func(c *Config) { c.Format = "logfmt" }, `a=1 b="x \" y" c`, `=`, `a="`)
}

func FuzzSyslog(f *testing.F) {
	fuzzFormat(f, func(c *Config) { c.Format = "syslog" },
		`<165>1 2026-12-07T22:14:15.003Z host1 app 1234 ID47 [id a="1\"]"][id2 b="2"] msg`,
		`<34>Dec  6 22:14:15 mymachine su[99]: failed`, `Dec  7 09:00:01 node1 CRON: job ran`)
}

func FuzzRegex(f *testing.F) {
	fuzzFormat(f, func(c *Config) { c.Format = "regex"; c.Pattern = `^(?P<a>\w+)=(?P<b>.*)$` }, `k=v`, "\xff=\x00")
}

func FuzzJSON(f *testing.F) {
	fuzzFormat(f, func(c *Config) { c.Format = "json"; c.TimestampField = "t"; c.DropOriginal = true }, `{"t":"2026-12-07T10:00:00Z","message":"x"}`, `{"message":{"a":[1]}}`)
}

func FuzzCRI(f *testing.F) {
	fuzzFormat(f, func(c *Config) { c.Format = "cri" }, `2026-12-07T17:20:11Z stdout P x`)
}

func FuzzDocker(f *testing.F) {
	fuzzFormat(f, func(c *Config) { c.Format = "docker" }, `{"log":"x\n","stream":"stdout"}`)
}
