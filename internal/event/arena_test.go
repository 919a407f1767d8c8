package event

import (
	"fmt"
	"testing"
)

func TestFieldArenaNestsAndKeepsWhatItReturned(t *testing.T) {
	var a FieldArena
	var got []*Fields
	for i := 0; i < 300; i++ { // past a chunk, with objects moved mid-way
		m := a.Mark()
		for j := 0; j < i%40; j++ {
			a.Set(m, fmt.Sprintf("k%d", j), IntValue(int64(j)))
		}
		inner := a.Mark()
		a.Push(Field{Key: "x", Value: StringValue("y")})
		a.Set(m, "obj", ObjectValue(a.Finish(inner)))
		a.Set(m, "k0", StringValue("last"))
		got = append(got, a.Finish(m))
		// A failed object leaves nothing behind.
		bad := a.Mark()
		a.Push(Field{Key: "junk", Value: IntValue(1)})
		a.Mark()
		a.Abort(bad)
	}
	for i, f := range got {
		n := i % 40
		want := max(n, 1) + 1
		if f.Len() != want {
			t.Fatalf("object %d has %d fields, want %d: %s", i, f.Len(), want, f.AppendJSON(nil))
		}
		if v, _ := f.Lookup("k0"); v.Str() != "last" {
			t.Fatalf("object %d: k0 = %s", i, f.AppendJSON(nil))
		}
		if v, _ := f.Get("obj.x"); v.Str() != "y" {
			t.Fatalf("object %d: %s", i, f.AppendJSON(nil))
		}
	}
	if a.depth != 0 {
		t.Fatalf("depth %d after every object was finished or aborted", a.depth)
	}
}

func TestFieldArenaAbortAll(t *testing.T) {
	var a FieldArena
	a.Mark()
	a.Push(Field{Key: "a", Value: IntValue(1)})
	a.Mark()
	a.Push(Field{Key: "b", Value: IntValue(2)})
	a.AbortAll()
	m := a.Mark()
	a.Push(Field{Key: "c", Value: IntValue(3)})
	if got := string(a.Finish(m).AppendJSON(nil)); got != `{"c":3}` || a.depth != 0 {
		t.Fatalf("%s, depth %d", got, a.depth)
	}
}

func TestFieldArenaRemove(t *testing.T) {
	var a FieldArena
	m := a.Mark()
	a.Push(Field{Key: "a", Value: IntValue(1)})
	a.Push(Field{Key: "b", Value: IntValue(2)})
	a.Push(Field{Key: "c", Value: IntValue(3)})
	a.Remove(m, 0)
	if got := string(a.Finish(m).AppendJSON(nil)); got != `{"c":3,"b":2}` {
		t.Fatal(got)
	}
}
