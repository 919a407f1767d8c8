package elasticsearch

import (
	"errors"
	"strings"
)

// bulkItem is one item of a _bulk response.
type bulkItem struct {
	// action is the item's key: "index", "create", "update" or "delete",
	// quoted.
	action []byte
	// status is the item's HTTP status; 0 when the item has none.
	status int
	// errType and errReason are the quoted "type" and "reason" of the
	// item's error object, or errReason is the quoted error when the error
	// is a string; nil when absent.
	errType, errReason []byte
}

// errNoErrorsFlag: the body is not a bulk response.
var errNoErrorsFlag = errors.New(`bulk response without an "errors" flag`)

// parseBulk reads the body of a 2xx answer to _bulk, Elasticsearch's and
// OpenSearch's shape alike:
//
//	{"took":3,"errors":true,"items":[{"create":{"_index":"x","status":201,...}},
//	  {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"..."}}}]}
//
// It returns the "errors" flag. When the flag is false and comes before
// "items", as both send it, parseBulk stops there: the success path reads
// no item. Otherwise it calls visit for every item in order, with n from
// 0; the item and its slices are valid only during the call. Items are
// visited only when the flag is true. An error means the body is not a
// bulk response.
func parseBulk(body []byte, visit func(n int, it *bulkItem)) (hasErrors bool, err error) {
	s := &scanner{b: body}
	empty, err := s.open('{', '}')
	if err != nil {
		return false, err
	}
	var (
		flagSeen   bool
		itemsStart = -1
	)
	for more := !empty; more; {
		k, err := s.key()
		if err != nil {
			return false, err
		}
		switch {
		case isKey(k, "errors") && s.peek() != 'n': // null: as if absent
			if hasErrors, err = s.boolean(); err != nil {
				return false, err
			}
			flagSeen = true
			if !hasErrors && itemsStart < 0 {
				return false, nil
			}
		case isKey(k, "items"):
			itemsStart = s.i
			err = s.skip()
		default:
			err = s.skip()
		}
		if err != nil {
			return false, err
		}
		if more, err = s.next('}'); err != nil {
			return false, err
		}
	}
	if !flagSeen {
		return false, errNoErrorsFlag
	}
	if !hasErrors || itemsStart < 0 {
		return hasErrors, nil
	}
	s.i = itemsStart
	return true, readItems(s, visit)
}

// readItems reads the items array at s.
func readItems(s *scanner, visit func(n int, it *bulkItem)) error {
	if s.peek() == 'n' {
		return s.skip()
	}
	empty, err := s.open('[', ']')
	if err != nil || empty {
		return err
	}
	var it bulkItem
	for n := 0; ; n++ {
		it = bulkItem{}
		if err := readItem(s, &it); err != nil {
			return err
		}
		visit(n, &it)
		more, err := s.next(']')
		if err != nil || !more {
			return err
		}
	}
}

// readItem reads {"<action>":{...}}; with several keys, the last one
// counts.
func readItem(s *scanner, it *bulkItem) error {
	return s.members(func(k []byte) error {
		*it = bulkItem{action: k}
		if s.peek() == '{' {
			return readResult(s, it)
		}
		return s.skip()
	})
}

// readResult reads an item's result object; later duplicates of a key
// override earlier ones.
func readResult(s *scanner, it *bulkItem) error {
	return s.members(func(k []byte) (err error) {
		switch {
		case isKey(k, "status"):
			it.status, err = s.integer()
		case isKey(k, "error"):
			it.errType, it.errReason = nil, nil
			switch s.peek() {
			case '{':
				err = readError(s, it)
			case '"':
				it.errReason, err = s.str()
			default:
				err = s.skip()
			}
		default:
			err = s.skip()
		}
		return err
	})
}

// readError reads {"type":"...","reason":"...",...}.
func readError(s *scanner, it *bulkItem) error {
	return s.members(func(k []byte) (err error) {
		switch {
		case isKey(k, "type") && s.peek() == '"':
			it.errType, err = s.str()
		case isKey(k, "reason") && s.peek() == '"':
			it.errReason, err = s.str()
		default:
			err = s.skip()
		}
		return err
	})
}

// maxReasonBytes bounds a discard reason taken from an error type.
const maxReasonBytes = 64

// reasonOf turns an item's error type into a discard reason: lower-case
// letters, digits and '_', at most 64 bytes; "rejected" when there is
// none.
func reasonOf(errType []byte) string {
	t := decodeString(errType)
	if t == "" {
		return "rejected"
	}
	var b strings.Builder
	for _, r := range t {
		if b.Len() >= maxReasonBytes {
			break
		}
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '_':
			b.WriteRune(r)
		case 'A' <= r && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
