package clickhouse

import (
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseError(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header string
		body   string
		code   int
		cname  string
		row    int
		class  Class
		reason string
	}{
		{"18.16 unknown table", 404, "",
			"Code: 60, e.displayText() = DB::Exception: Table default.nope doesn't exist., e.what() = DB::Exception\n",
			60, "UNKNOWN_TABLE", 0, Transient, "not_found"},
		{"18.16 wrong password", 401, "",
			"Code: 193, e.displayText() = DB::Exception: Wrong password for user drover, e.what() = DB::Exception\n",
			193, "WRONG_PASSWORD", 0, Transient, "unauthorized"},
		{"18.16 parse error at row", 500, "",
			"Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected \" before: x\"}\\n: (while read the value of key nomad.alloc_index): (at row 2)\n, e.what() = DB::Exception\n",
			27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", 2, DataError, "cannot_parse_input_assertion_failed"},
		{"23.8 with header and name", 404, "60",
			"Code: 60. DB::Exception: Table logs.nope does not exist. (UNKNOWN_TABLE) (version 23.8.1.1 (official build))\n",
			60, "UNKNOWN_TABLE", 0, Transient, "not_found"},
		{"header wins over body", 500, "241",
			"Code: 999. DB::Exception: Memory limit (total) exceeded (MEMORY_LIMIT_EXCEEDED)",
			241, "MEMORY_LIMIT_EXCEEDED", 0, Transient, "server_error"},
		{"code only in header", 500, "252", "", 252, "TOO_MANY_PARTS", 0, Transient, "throttled"},
		{"too many partitions splits the insert", 500, "252",
			"Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100). The limit is controlled by 'max_partitions_per_insert_block' setting. (TOO_MANY_PARTS)",
			252, "TOO_MANY_PARTS", 0, Split, "too_many_partitions"},
		{"unknown code, 5xx", 500, "", "Code: 4242. DB::Exception: something new. (SOMETHING_NEW) (version 99.1)",
			4242, "SOMETHING_NEW", 0, Transient, "server_error"},
		{"unknown code, 4xx", 400, "", "Code: 4242, e.displayText() = DB::Exception: something new",
			4242, "", 0, Split, "bad_request"},
		{"proxy 502 without code", 502, "", "<html>Bad Gateway</html>", 0, "", 0, Transient, "server_error"},
		{"proxy 429 without code", 429, "", "slow down", 0, "", 0, Transient, "throttled"},
		{"proxy 413 without code", 413, "", "Request Entity Too Large", 0, "", 0, Split, "too_large"},
		{"proxy 401 without code", 401, "", "", 0, "", 0, Transient, "unauthorized"},
		{"proxy 404 without code", 404, "", "", 0, "", 0, Transient, "not_found"},
		{"200 with exception header (error after the headers)", 200, "159", "Code: 159. DB::Exception: Timeout exceeded",
			159, "TIMEOUT_EXCEEDED", 0, Transient, "timeout"},
		{"garbage header ignored", 500, "abc", "Code: 62. DB::Exception: Syntax error (SYNTAX_ERROR)",
			62, "SYNTAX_ERROR", 0, Transient, "misconfigured"},
		{"row zero ignored", 500, "", "Code: 53. DB::Exception: Type mismatch (at row 0) (at row 7)", 53, "TYPE_MISMATCH", 7, DataError, "type_mismatch"},
		{"violated constraint", 500, "469",
			"Code: 469. DB::Exception: Constraint `c` for table logs.t (...) is violated at row 1. Expression: (x > 0). (VIOLATED_CONSTRAINT)",
			469, "VIOLATED_CONSTRAINT", 0, DataError, "violated_constraint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.header != "" {
				h.Set(ExceptionCodeHeader, c.header)
			}
			e := ParseError(c.status, h, []byte(c.body))
			if e.Code != c.code || e.Name != c.cname || e.Row != c.row || e.Status != c.status {
				t.Errorf("ParseError = code %d name %q row %d status %d; want %d %q %d %d",
					e.Code, e.Name, e.Row, e.Status, c.code, c.cname, c.row, c.status)
			}
			if got, reason := Classify(e); got != c.class || reason != c.reason {
				t.Errorf("Classify = %s %s, want %s %s", got, reason, c.class, c.reason)
			}
			msg := e.Error()
			if c.code != 0 && !strings.Contains(msg, "ClickHouse error "+strconv.Itoa(c.code)) {
				t.Errorf("Error() = %q lacks the code", msg)
			}
			if !strings.Contains(msg, "HTTP "+strconv.Itoa(c.status)) || strings.ContainsAny(msg, "\n\r") {
				t.Errorf("Error() = %q", msg)
			}
		})
	}
}

func TestParseErrorSnippet(t *testing.T) {
	body := "Code: 27.. " + strings.Repeat("é", MaxMessageBytes) + "\x00\x01\ttail"
	e := ParseError(500, nil, []byte(body))
	if len(e.Message) > MaxMessageBytes || !utf8.ValidString(e.Message) || strings.ContainsRune(e.Message, '\uFFFD') {
		t.Fatalf("snippet of %d bytes, valid %v: %q...", len(e.Message), utf8.ValidString(e.Message), e.Message[:40])
	}
	if e := ParseError(500, nil, []byte("a\x00b\nc\xff")); e.Message != "ab c\uFFFD" {
		t.Fatalf("snippet %q", e.Message)
	}
}

// FuzzParseError checks that any answer parses without panicking into a
// consistent error: a code within range, a row that the body names, a
// message that is one line of valid UTF-8 within the size limit, and a
// class.
func FuzzParseError(f *testing.F) {
	f.Add(500, "", "Code: 27, e.displayText() = DB::Exception: Cannot parse input: (at row 2)\n, e.what() = DB::Exception")
	f.Add(404, "60", "Code: 60. DB::Exception: Table x does not exist. (UNKNOWN_TABLE) (version 23.8.1.1)")
	f.Add(200, "159", "")
	f.Add(502, "", "<html>Bad Gateway</html>")
	f.Add(500, "-1", "Code: -5 (at row -1) (at row 99999999999) ((()")
	f.Add(491, "0", "Code: 000001A0000000000000000000000000") // leading zeros: code 1
	f.Fuzz(func(t *testing.T, status int, header, body string) {
		h := http.Header{}
		h.Set(ExceptionCodeHeader, header)
		e := ParseError(status, h, []byte(body))
		if e.Code < 0 || e.Code > 999999 || e.Row < 0 {
			t.Fatalf("code %d row %d", e.Code, e.Row)
		}
		if e.Row > 0 && !strings.Contains(body, "(at row "+strconv.Itoa(e.Row)+")") {
			t.Fatalf("row %d not in the body", e.Row)
		}
		if e.Code > 0 && e.Code != codeFrom(header) && e.Code != bodyCode(body) {
			t.Fatalf("code %d in neither header %q nor body", e.Code, header)
		}
		if len(e.Message) > MaxMessageBytes || !utf8.ValidString(e.Message) || strings.ContainsAny(e.Message, "\n\r\x00") {
			t.Fatalf("bad message %q", e.Message)
		}
		if c, reason := Classify(e); (c != Transient && c != Split && c != DataError) || reason == "" {
			t.Fatalf("class %d", c)
		}
		_ = e.Error()
	})
}

// bodyCode is the number that follows the first "Code: " of body (leading
// zeros allowed), or -1.
func bodyCode(body string) int {
	i := strings.Index(body, "Code: ")
	if i < 0 {
		return -1
	}
	rest := body[i+len("Code: "):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	return codeFrom(rest[:n])
}

func codeFrom(header string) int {
	n, err := strconv.Atoi(strings.TrimSpace(header))
	if err != nil {
		return -1
	}
	return n
}

// TestCodeTableDocumented keeps the table of codes in step with the one
// in the sink's documentation.
func TestCodeTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/components/sink-clickhouse.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (\\d+) \\| `([A-Z0-9_]+)` \\| (transient|data error) \\| `?([a-z_]*)`? \\|")
	documented := map[int]codeInfo{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		code, _ := strconv.Atoi(m[1])
		class := map[string]Class{"transient": Transient, "data error": DataError}[m[3]]
		documented[code] = codeInfo{m[2], class, m[4]}
	}
	for code, info := range codes {
		if info.class == DataError {
			info.reason = strings.ToLower(info.name) // a data error's reason is its name
		}
		if d, ok := documented[code]; !ok || d != info {
			t.Errorf("code %d (%s, %s) is documented as %+v", code, info.name, info.class, d)
		}
	}
	for code := range documented {
		if _, ok := codes[code]; !ok {
			t.Errorf("the documentation lists code %d, which the sink does not know", code)
		}
	}
}
