package clickhouse

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ServerError is an error answer of a ClickHouse server (or of a proxy in
// front of it) to an HTTP request.
type ServerError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Code is the ClickHouse error code from the X-ClickHouse-Exception-Code
	// header or from "Code: NNN" in the body; 0 when the answer named none.
	Code int
	// Name is the code's symbolic name: from the body ("(UNKNOWN_TABLE)",
	// servers since 21.x) or from the sink's table of known codes; "" when
	// neither knows it.
	Name string
	// Row is the 1-based row of the insert's data that the server named
	// ("(at row 3)"), or 0.
	Row int
	// Message is the start of the body (MaxMessageBytes at most), valid
	// UTF-8 on one line.
	Message string
}

// MaxMessageBytes is how much of an error body ServerError keeps.
const MaxMessageBytes = 1024

// ExceptionCodeHeader is the header in which servers since 20.x repeat the
// error code of a failed query.
const ExceptionCodeHeader = "X-ClickHouse-Exception-Code"

// StatusCode returns the HTTP status, the status of the sink's dead
// letters.
func (e *ServerError) StatusCode() int { return e.Status }

// Error describes the answer: code and name when known, HTTP status, and
// the start of the body.
func (e *ServerError) Error() string {
	var b strings.Builder
	if e.Code != 0 {
		fmt.Fprintf(&b, "ClickHouse error %d", e.Code)
		if e.Name != "" {
			fmt.Fprintf(&b, " (%s)", e.Name)
		}
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// ParseError reads a ClickHouse error answer. It never fails: an answer
// without a recognisable code gives a ServerError with Code 0. The header
// code wins over a code in the body. Both message formats are understood:
//
//	Code: 60, e.displayText() = DB::Exception: Table default.x doesn't exist., e.what() = DB::Exception   (before 21.x)
//	Code: 60. DB::Exception: Table default.x does not exist. (UNKNOWN_TABLE) (version 23.8.1.1)     (21.x and later)
func ParseError(status int, header http.Header, body []byte) *ServerError {
	e := &ServerError{Status: status, Message: snippet(body)}
	if header != nil {
		if c, ok := parseCode(strings.TrimSpace(header.Get(ExceptionCodeHeader))); ok {
			e.Code = c
		}
	}
	text := string(body)
	if i := strings.Index(text, "Code: "); i >= 0 {
		if e.Code == 0 {
			digits := leadingDigits(text[i+len("Code: "):])
			if c, ok := parseCode(digits); ok {
				e.Code = c
			}
		}
		e.Name = symbolicName(text[i:])
	}
	if e.Name == "" {
		e.Name = codeName(e.Code)
	}
	e.Row = atRow(text)
	return e
}

// parseCode parses a positive error code of at most 6 digits.
func parseCode(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

func leadingDigits(s string) string {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return s[:n]
}

// symbolicName finds the "(NAME)" that servers since 21.x put after the
// exception message: the first parenthesised run of upper-case letters,
// digits and underscores that starts with a letter.
func symbolicName(s string) string {
	for {
		open := strings.IndexByte(s, '(')
		if open < 0 {
			return ""
		}
		s = s[open+1:]
		end := strings.IndexByte(s, ')')
		if end < 0 {
			return ""
		}
		if name := s[:end]; isSymbol(name) {
			return name
		}
	}
}

func isSymbol(s string) bool {
	if len(s) < 2 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// atRow returns N of the first "(at row N)" in s, or 0.
func atRow(s string) int {
	const marker = "(at row "
	for {
		i := strings.Index(s, marker)
		if i < 0 {
			return 0
		}
		s = s[i+len(marker):]
		digits := leadingDigits(s)
		if len(digits) > 0 && len(digits) <= 9 && strings.HasPrefix(s[len(digits):], ")") {
			n, _ := strconv.Atoi(digits)
			if n > 0 {
				return n
			}
		}
	}
}

// snippet makes the start of a body fit for a log line: valid UTF-8, line
// breaks and tabs as spaces, other control characters dropped, surrounding
// space trimmed, at most MaxMessageBytes.
func snippet(body []byte) string {
	if len(body) > MaxMessageBytes {
		n := MaxMessageBytes
		for n > MaxMessageBytes-utf8.UTFMax && !utf8.RuneStart(body[n]) {
			n--
		}
		body = body[:n]
	}
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	if len(s) > MaxMessageBytes {
		// Replacement characters take more room than the bytes they
		// replace; cut before a character, not inside one.
		n := MaxMessageBytes
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return strings.TrimSpace(s)
}
