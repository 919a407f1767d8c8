package event

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/drover-dev/drover/internal/jsonenc"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of values a field can hold.
const (
	KindNull Kind = iota
	KindString
	KindBytes
	KindInt
	KindFloat
	KindBool
	KindTime
	KindObject
	KindRawJSON
)

// Value is one field value. The zero Value is null.
//
// A Value is 40 bytes: parsers build millions of them, so a time is kept
// as Unix seconds (num) and nanoseconds (nsec), in UTC, rather than as a
// 24-byte time.Time.
type Value struct {
	kind Kind
	nsec int32
	str  string
	num  uint64
	obj  *Fields
}

// StringValue holds a string.
func StringValue(s string) Value { return Value{kind: KindString, str: s} }

// BytesValue holds bytes shown as a string. The bytes are not copied: the
// caller must keep them unchanged while the value lives.
func BytesValue(b []byte) Value {
	return Value{kind: KindBytes, str: unsafe.String(unsafe.SliceData(b), len(b))}
}

// IntValue holds an integer.
func IntValue(i int64) Value { return Value{kind: KindInt, num: uint64(i)} }

// FloatValue holds a floating point number.
func FloatValue(f float64) Value { return Value{kind: KindFloat, num: math.Float64bits(f)} }

// BoolValue holds a boolean.
func BoolValue(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.num = 1
	}
	return v
}

// TimeValue holds a point in time.
// Its location is not kept: Time returns it in UTC.
func TimeValue(t time.Time) Value {
	return Value{kind: KindTime, num: uint64(t.Unix()), nsec: int32(t.Nanosecond())}
}

// ObjectValue holds nested fields.
func ObjectValue(f *Fields) Value { return Value{kind: KindObject, obj: f} }

// RawJSONValue holds a JSON text that is encoded as is. The caller
// guarantees it is valid JSON.
func RawJSONValue(raw []byte) Value {
	return Value{kind: KindRawJSON, str: string(raw)}
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// Str returns the string of a string or bytes value, and "" for other kinds.
func (v Value) Str() string {
	if v.kind == KindString || v.kind == KindBytes {
		return v.str
	}
	return ""
}

// Int returns the integer of an int value.
func (v Value) Int() int64 { return int64(v.num) }

// Float returns the number of a float value.
func (v Value) Float() float64 { return math.Float64frombits(v.num) }

// Bool returns the boolean of a bool value.
func (v Value) Bool() bool { return v.num == 1 }

// Time returns the time of a time value, in UTC.
func (v Value) Time() time.Time { return time.Unix(int64(v.num), int64(v.nsec)).UTC() }

// Object returns the fields of an object value, or nil.
func (v Value) Object() *Fields { return v.obj }

// AppendText appends the value as plain text, as templates show it:
// strings as they are, numbers in decimal, times in RFC 3339, objects and raw
// JSON as JSON, null as nothing.
func (v Value) AppendText(dst []byte) []byte {
	switch v.kind {
	case KindString, KindBytes, KindRawJSON:
		return append(dst, v.str...)
	case KindInt:
		return strconv.AppendInt(dst, int64(v.num), 10)
	case KindFloat:
		return strconv.AppendFloat(dst, v.Float(), 'g', -1, 64)
	case KindBool:
		return strconv.AppendBool(dst, v.num == 1)
	case KindTime:
		return v.Time().AppendFormat(dst, time.RFC3339Nano)
	case KindObject:
		return v.obj.AppendJSON(dst)
	}
	return dst
}

// AppendJSON appends the value as JSON.
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.kind {
	case KindString, KindBytes:
		return jsonenc.AppendString(dst, v.str)
	case KindInt:
		return strconv.AppendInt(dst, int64(v.num), 10)
	case KindFloat:
		return jsonenc.AppendFloat(dst, v.Float())
	case KindBool:
		return strconv.AppendBool(dst, v.num == 1)
	case KindTime:
		return jsonenc.AppendTime(dst, v.Time())
	case KindObject:
		return v.obj.AppendJSON(dst)
	case KindRawJSON:
		return append(dst, v.str...)
	}
	return append(dst, "null"...)
}

// Field is one key and its value.
type Field struct {
	Key   string
	Value Value
}

// Fields is an ordered list of fields. Keys are unique; a nested object is a
// field whose value is KindObject. Fields built by NewFields are read-only.
type Fields struct {
	list []Field
}

// NewFields returns the fields in the given order. A later field with the
// same key as an earlier one replaces it.
func NewFields(fs ...Field) *Fields {
	out := &Fields{list: make([]Field, 0, len(fs))}
	for _, f := range fs {
		out.set(f)
	}
	return out
}

func (f *Fields) set(nf Field) {
	for i := range f.list {
		if f.list[i].Key == nf.Key {
			f.list[i].Value = nf.Value
			return
		}
	}
	f.list = append(f.list, nf)
}

// Len is the number of top-level fields.
func (f *Fields) Len() int {
	if f == nil {
		return 0
	}
	return len(f.list)
}

// All returns the fields in order. Callers must not modify the slice.
func (f *Fields) All() []Field {
	if f == nil {
		return nil
	}
	return f.list
}

// Lookup returns the value of a top-level key.
func (f *Fields) Lookup(key string) (Value, bool) {
	if f == nil {
		return Value{}, false
	}
	for i := range f.list {
		if f.list[i].Key == key {
			return f.list[i].Value, true
		}
	}
	return Value{}, false
}

// Get returns the value at a dotted path such as "nomad.meta.team".
func (f *Fields) Get(path string) (Value, bool) {
	cur := f
	for {
		key, rest, nested := strings.Cut(path, ".")
		v, ok := cur.Lookup(key)
		if !ok {
			return Value{}, false
		}
		if !nested {
			return v, true
		}
		if v.kind != KindObject {
			return Value{}, false
		}
		cur, path = v.obj, rest
	}
}

// With returns a copy of f with the given fields set (replaced or appended).
// f itself is not changed.
func (f *Fields) With(fs ...Field) *Fields {
	out := &Fields{list: make([]Field, 0, f.Len()+len(fs))}
	out.list = append(out.list, f.All()...)
	for _, nf := range fs {
		out.set(nf)
	}
	return out
}

// AppendJSON appends the fields as a JSON object.
func (f *Fields) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = f.AppendJSONMembers(dst, nil)
	return append(dst, '}')
}

// AppendJSONMembers appends the fields as JSON object members without braces
// ("a":1,"b":"x"), leaving out the keys for which skip returns true.
func (f *Fields) AppendJSONMembers(dst []byte, skip func(key string) bool) []byte {
	first := true
	for i := range f.All() {
		fl := &f.list[i]
		if skip != nil && skip(fl.Key) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = jsonenc.AppendString(dst, fl.Key)
		dst = append(dst, ':')
		dst = fl.Value.AppendJSON(dst)
	}
	return dst
}

// Without returns a copy of f without the given top-level keys. f itself is
// not changed.
func (f *Fields) Without(keys ...string) *Fields {
	out := &Fields{list: make([]Field, 0, f.Len())}
	for _, fl := range f.All() {
		drop := false
		for _, k := range keys {
			drop = drop || fl.Key == k
		}
		if !drop {
			out.list = append(out.list, fl)
		}
	}
	return out
}

// LookupPath returns the value at the path given as segments (["nomad", "meta",
// "drover.parser"]): unlike Get, a segment may contain dots.
func (f *Fields) LookupPath(segs []string) (Value, bool) {
	cur := f
	for i, s := range segs {
		v, ok := cur.Lookup(s)
		if !ok {
			return Value{}, false
		}
		if i == len(segs)-1 {
			return v, true
		}
		if v.kind != KindObject {
			return Value{}, false
		}
		cur = v.obj
	}
	return Value{}, false
}
