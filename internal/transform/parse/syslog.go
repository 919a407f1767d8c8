package parse

import (
	"bytes"
	"errors"
	"strconv"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

var facilities = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7"}

var severities = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// syslogResult is what a syslog line says besides its fields.
type syslogResult struct {
	msg  []byte
	time time.Time
}

// parseSyslog parses an RFC 5424 or RFC 3164 line (with or without the
// <PRI> part, as files written by a local syslog daemon have them) into
// the object started at mark: facility, severity, version, hostname,
// appname, procid, msgid, structured_data. now gives the year of RFC 3164
// time stamps, which have none.
func parseSyslog(a *event.FieldArena, mark int, line []byte, now time.Time) (syslogResult, error) {
	rest := line
	if len(rest) > 0 && rest[0] == '<' {
		end := bytes.IndexByte(rest, '>')
		if end < 2 || end > 4 {
			return syslogResult{}, errors.New("syslog: invalid <PRI>")
		}
		pri, err := strconv.Atoi(str(rest[1:end]))
		if err != nil || pri < 0 || pri > 191 {
			return syslogResult{}, errors.New("syslog: invalid <PRI>")
		}
		a.Push(event.Field{Key: "facility", Value: event.StringValue(facilities[pri/8])})
		a.Push(event.Field{Key: "severity", Value: event.StringValue(severities[pri%8])})
		rest = rest[end+1:]
		if len(rest) > 1 && rest[0] >= '1' && rest[0] <= '9' && rest[1] == ' ' {
			a.Push(event.Field{Key: "version", Value: event.IntValue(int64(rest[0] - '0'))})
			return parse5424(a, mark, rest[2:])
		}
	}
	return parse3164(a, rest, now)
}

func nextToken(b []byte) (tok, rest []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil, len(b) > 0
	}
	return b[:i], b[i+1:], i > 0
}

func parse5424(a *event.FieldArena, mark int, b []byte) (syslogResult, error) {
	var res syslogResult
	ts, b, ok := nextToken(b)
	if !ok {
		return res, errors.New("syslog: no timestamp")
	}
	if string(ts) != "-" {
		t, err := time.Parse(time.RFC3339Nano, str(ts))
		if err != nil {
			return res, errors.New("syslog: invalid RFC 5424 timestamp")
		}
		res.time = t
	}
	for _, key := range [...]string{"hostname", "appname", "procid", "msgid"} {
		var tok []byte
		tok, b, ok = nextToken(b)
		if !ok {
			return res, errors.New("syslog: missing " + key)
		}
		if string(tok) != "-" {
			a.Push(event.Field{Key: key, Value: event.BytesValue(tok)})
		}
	}
	if len(b) == 0 {
		return res, errors.New("syslog: missing structured data")
	}
	if b[0] == '-' {
		b = b[1:]
	} else {
		sdMark := a.Mark()
		for len(b) > 0 && b[0] == '[' {
			var err error
			b, err = parseSDElement(a, b)
			if err != nil {
				a.Abort(sdMark)
				return res, err
			}
		}
		sd := a.Finish(sdMark)
		a.Push(event.Field{Key: "structured_data", Value: event.ObjectValue(sd)})
	}
	if len(b) > 0 {
		if b[0] != ' ' {
			return res, errors.New("syslog: no space before the message")
		}
		b = b[1:]
	}
	res.msg = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	return res, nil
}

// parseSDElement parses one [id k="v" ...] element into a field named id
// (a later element with the same id replaces an earlier one).
func parseSDElement(a *event.FieldArena, b []byte) ([]byte, error) {
	b = b[1:]
	end := bytes.IndexAny(b, " ]")
	if end <= 0 {
		return nil, errors.New("syslog: invalid structured data")
	}
	id := str(b[:end])
	b = b[end:]
	mark := a.Mark()
	for {
		if len(b) == 0 {
			a.Abort(mark)
			return nil, errors.New("syslog: unterminated structured data")
		}
		if b[0] == ']' {
			params := a.Finish(mark)
			a.Push(event.Field{Key: id, Value: event.ObjectValue(params)})
			return b[1:], nil
		}
		if b[0] != ' ' {
			a.Abort(mark)
			return nil, errors.New("syslog: invalid structured data")
		}
		b = b[1:]
		eq := bytes.IndexByte(b, '=')
		if eq <= 0 || eq+1 >= len(b) || b[eq+1] != '"' {
			a.Abort(mark)
			return nil, errors.New("syslog: invalid structured data parameter")
		}
		name := str(b[:eq])
		b = b[eq+2:]
		// The value ends at the first '"' not escaped by a backslash; the
		// escapes (\" \\ \]) are kept as written.
		i := 0
		for i < len(b) && b[i] != '"' {
			if b[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(b) {
			a.Abort(mark)
			return nil, errors.New("syslog: unterminated structured data value")
		}
		a.Set(mark, name, event.BytesValue(b[:i]))
		b = b[i+1:]
	}
}

// parse3164 parses "Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG".
func parse3164(a *event.FieldArena, b []byte, now time.Time) (syslogResult, error) {
	var res syslogResult
	if len(b) < 16 || b[15] != ' ' {
		return res, errors.New("syslog: not an RFC 3164 or RFC 5424 line")
	}
	t, err := time.Parse(time.Stamp, str(b[:15]))
	if err != nil {
		return res, errors.New("syslog: invalid RFC 3164 timestamp")
	}
	// No year: the one that puts the time closest before now (a line of
	// December 31st read on January 1st is last year's).
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	t = time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	res.time = t
	b = b[16:]
	host, b, ok := nextToken(b)
	if !ok {
		return res, errors.New("syslog: missing hostname")
	}
	a.Push(event.Field{Key: "hostname", Value: event.BytesValue(host)})
	// TAG: letters up to '[' or ':'; then optional [PID], then ':'.
	i := 0
	for i < len(b) && i < 48 && b[i] != '[' && b[i] != ':' && b[i] != ' ' {
		i++
	}
	if i > 0 && i < len(b) && (b[i] == '[' || b[i] == ':') {
		a.Push(event.Field{Key: "appname", Value: event.BytesValue(b[:i])})
		rest := b[i:]
		if rest[0] == '[' {
			end := bytes.IndexByte(rest, ']')
			if end > 1 {
				a.Push(event.Field{Key: "procid", Value: event.BytesValue(rest[1:end])})
				rest = rest[end+1:]
			}
		}
		if len(rest) > 0 && rest[0] == ':' {
			rest = rest[1:]
		}
		b = bytes.TrimPrefix(rest, []byte(" "))
	}
	res.msg = b
	return res, nil
}
