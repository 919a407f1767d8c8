package parse

import (
	"errors"
	"unsafe"

	"github.com/drover-dev/drover/internal/event"
)

// parseLogfmt parses key=value pairs separated by spaces into the object
// started at mark: values are strings, bare or double-quoted with
// backslash escapes; a key without "=" is the boolean true. Unquoted
// strings point into msg; unescaped ones go to *strs.
func parseLogfmt(a *event.FieldArena, mark int, msg []byte, strs *[]byte) error {
	i, n := 0, 0
	for {
		for i < len(msg) && (msg[i] == ' ' || msg[i] == '\t') {
			i++
		}
		if i >= len(msg) {
			break
		}
		ks := i
		for i < len(msg) && msg[i] != '=' && msg[i] != ' ' && msg[i] != '\t' && msg[i] != '"' {
			i++
		}
		if i == ks {
			return errors.New("logfmt: expected a key")
		}
		key := str(msg[ks:i])
		if i >= len(msg) || msg[i] != '=' {
			if i < len(msg) && msg[i] == '"' {
				return errors.New("logfmt: quote in a key")
			}
			a.Set(mark, key, event.BoolValue(true))
			n++
			continue
		}
		i++ // '='
		if i < len(msg) && msg[i] == '"' {
			v, next, err := unquote(msg, i, strs)
			if err != nil {
				return err
			}
			a.Set(mark, key, event.StringValue(v))
			i = next
		} else {
			vs := i
			for i < len(msg) && msg[i] != ' ' && msg[i] != '\t' {
				if msg[i] == '"' {
					return errors.New("logfmt: quote inside a bare value")
				}
				i++
			}
			a.Set(mark, key, event.BytesValue(msg[vs:i]))
		}
		n++
	}
	if n == 0 {
		return errors.New("logfmt: no key=value pairs")
	}
	return nil
}

// unquote reads the quoted string at msg[i] ('"'). Without escapes the
// result points into msg.
func unquote(msg []byte, i int, strs *[]byte) (string, int, error) {
	start := i + 1
	j := start
	for j < len(msg) && msg[j] != '"' && msg[j] != '\\' {
		j++
	}
	if j >= len(msg) {
		return "", 0, errors.New("logfmt: unterminated quoted value")
	}
	if msg[j] == '"' {
		return str(msg[start:j]), j + 1, nil
	}
	buf := *strs
	if cap(buf)-len(buf) < len(msg)-start {
		buf = make([]byte, 0, max(4096, 2*(len(msg)-start)))
	}
	from := len(buf)
	buf = append(buf, msg[start:j]...)
	for j < len(msg) {
		c := msg[j]
		switch {
		case c == '"':
			*strs = buf
			s := buf[from:len(buf):len(buf)]
			return str(s), j + 1, nil
		case c == '\\' && j+1 < len(msg):
			switch e := msg[j+1]; e {
			case 'n':
				buf = append(buf, '\n')
			case 't':
				buf = append(buf, '\t')
			case 'r':
				buf = append(buf, '\r')
			default:
				buf = append(buf, e)
			}
			j += 2
		default:
			buf = append(buf, c)
			j++
		}
	}
	*strs = buf
	return "", 0, errors.New("logfmt: unterminated quoted value")
}

// str views bytes as a string without copying; the bytes must not change
// while the string lives.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
