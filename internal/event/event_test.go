package event

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

func TestAckRunsOnceWhenLastHolderReleases(t *testing.T) {
	var calls []bool
	a := NewAck(func(ok bool) { calls = append(calls, ok) })
	a.Retain(2)
	a.Release(Delivered)
	a.Release(Rejected)
	if len(calls) != 0 {
		t.Fatal("callback ran while a holder remained")
	}
	a.Release(Delivered)
	if len(calls) != 1 || !calls[0] {
		t.Fatalf("calls %v, want [true]", calls)
	}
}

func TestAckFailedByAnyHolder(t *testing.T) {
	var got *bool
	a := NewAck(func(ok bool) { got = &ok })
	a.Retain(1)
	a.Release(Failed)
	a.Release(Delivered)
	if got == nil || *got {
		t.Fatal("a Failed release must make the batch not ok")
	}
}

func TestAckConcurrentReleases(t *testing.T) {
	var mu sync.Mutex
	n := 0
	a := NewAck(func(bool) { mu.Lock(); n++; mu.Unlock() })
	a.Retain(100)
	var wg sync.WaitGroup
	for i := 0; i < 101; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); a.Release(Delivered) }()
	}
	wg.Wait()
	if n != 1 {
		t.Fatalf("callback ran %d times", n)
	}
}

func TestAckOverReleasePanics(t *testing.T) {
	a := NewAck(nil)
	a.Release(Delivered)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a second release")
		}
	}()
	a.Release(Delivered)
}

func TestFieldsGetAndJSON(t *testing.T) {
	nomad := NewFields(
		Field{"job_name", StringValue(`web "frontend"`)},
		Field{"alloc_index", IntValue(3)},
		Field{"meta", ObjectValue(NewFields(Field{"team", StringValue("core")}))},
	)
	meta := NewMeta("src", NewFields(
		Field{"file", StringValue("/var/log/a.log")},
		Field{"nomad", ObjectValue(nomad)},
	))
	e := Event{
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Message:   []byte("hello"),
		Meta:      meta,
		Fields:    NewFields(Field{"level", StringValue("info")}, Field{"file", StringValue("override")}),
	}
	for path, want := range map[string]string{
		"message": "hello", "file": "override", "level": "info",
		"nomad.job_name": `web "frontend"`, "nomad.alloc_index": "3", "nomad.meta.team": "core",
		"timestamp": "2026-01-02T03:04:05.000000006Z",
	} {
		v, ok := e.Get(path)
		if !ok || string(v.AppendText(nil)) != want {
			t.Errorf("Get(%q) = %q, %v; want %q", path, v.AppendText(nil), ok, want)
		}
	}
	for _, path := range []string{"nope", "nomad.nope", "nomad.job_name.deeper", "file.x"} {
		if _, ok := e.Get(path); ok {
			t.Errorf("Get(%q) found something", path)
		}
	}
	var decoded map[string]any
	obj := append([]byte{'{'}, meta.JSONMembers()...)
	obj = append(obj, '}')
	if err := json.Unmarshal(obj, &decoded); err != nil {
		t.Fatalf("meta JSON %s: %v", obj, err)
	}
	if decoded["nomad"].(map[string]any)["job_name"] != `web "frontend"` {
		t.Errorf("decoded %v", decoded)
	}
}

func TestFieldsWithDoesNotChangeTheOriginal(t *testing.T) {
	a := NewFields(Field{"x", IntValue(1)})
	b := a.With(Field{"x", IntValue(2)}, Field{"y", BoolValue(true)})
	if v, _ := a.Get("x"); v.Int() != 1 || a.Len() != 1 {
		t.Fatal("With changed the original")
	}
	if v, _ := b.Get("x"); v.Int() != 2 || b.Len() != 2 {
		t.Fatalf("With result wrong: %s", b.AppendJSON(nil))
	}
	if got := string(b.AppendJSON(nil)); got != `{"x":2,"y":true}` {
		t.Errorf("JSON %s", got)
	}
}

func TestJoinAcksReleasesEveryParentOnce(t *testing.T) {
	var got []bool
	p1 := NewAck(func(ok bool) { got = append(got, ok) })
	p2 := NewAck(func(ok bool) { got = append(got, ok) })
	j := JoinAcks([]*Ack{p1, p2})
	j.Retain(1)
	j.Release(Delivered)
	if len(got) != 0 {
		t.Fatal("parents released while the joined ack is still held")
	}
	j.Release(Failed)
	if len(got) != 2 || got[0] || got[1] {
		t.Fatalf("parents released %v, want two failures", got)
	}
}

func TestGetPathWithDottedKey(t *testing.T) {
	meta := NewMeta("s", NewFields(Field{Key: "nomad", Value: ObjectValue(NewFields(
		Field{Key: "meta", Value: ObjectValue(NewFields(Field{Key: "drover.parser", Value: StringValue("json")}))}))}))
	e := Event{Meta: meta, Fields: NewFields(Field{Key: "level", Value: StringValue("info")})}
	if v, ok := e.GetPath([]string{"nomad", "meta", "drover.parser"}); !ok || v.Str() != "json" {
		t.Fatalf("got %v %v", v, ok)
	}
	if v, ok := e.GetPath([]string{"level"}); !ok || v.Str() != "info" {
		t.Fatalf("got %v %v", v, ok)
	}
	if _, ok := e.GetPath([]string{"nomad", "meta", "drover", "parser"}); ok {
		t.Fatal("a dotted key is one segment")
	}
}
