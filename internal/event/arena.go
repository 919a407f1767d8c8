package event

// FieldArena builds the Fields of many events from memory allocated in
// bulk, so that a parser allocates per batch rather than per event. Fields
// it returned stay valid and unchanged after later calls: the arena only
// ever appends, and starts a new chunk when one is full. Its zero value is
// ready; it is not safe for concurrent use.
//
//	mark := a.Mark()
//	a.Push(Field{...}) // as many as the object has
//	f := a.Finish(mark)
//
// Objects nest: a nested object is started and finished between its
// parent's Mark and Finish, and Push adds to the innermost open object. The
// outermost object's fields are written where they stay; nested ones are
// gathered aside and moved when finished.
type FieldArena struct {
	depth   int     // objects open
	top     []Field // the outermost object is written at its end
	topMark int
	scratch []Field // fields of open nested objects
	chunk   []Field // finished nested objects
	structs []Fields
}

const arenaChunk = 256

// Marks of outermost objects are negative: -1 - start in top.
func topMark(m int) (int, bool) { return -1 - m, m < 0 }

// Mark starts an object and returns its mark.
func (a *FieldArena) Mark() int {
	a.depth++
	if a.depth == 1 {
		if cap(a.top)-len(a.top) < 16 {
			a.top = make([]Field, 0, arenaChunk)
		}
		a.topMark = len(a.top)
		return -1 - a.topMark
	}
	return len(a.scratch)
}

// Push adds a field to the innermost open object. Keys are not checked:
// see Set.
func (a *FieldArena) Push(f Field) {
	if a.depth > 1 {
		a.scratch = append(a.scratch, f)
		return
	}
	if len(a.top) == cap(a.top) {
		// The chunk is full: move the object under way to a new one.
		open := a.top[a.topMark:]
		nt := make([]Field, len(open), max(arenaChunk, 2*len(open)+1))
		copy(nt, open)
		a.top, a.topMark = nt, 0
	}
	a.top = append(a.top, f)
}

// Set adds a field to the object started at mark, the innermost open one,
// replacing the value of an earlier field with the same key.
func (a *FieldArena) Set(mark int, key string, v Value) {
	p := a.Pending(mark)
	for i := range p {
		if p[i].Key == key {
			p[i].Value = v
			return
		}
	}
	a.Push(Field{Key: key, Value: v})
}

// Pending returns the fields of the open object started at mark, for the
// caller to change values in place.
func (a *FieldArena) Pending(mark int) []Field {
	if _, top := topMark(mark); top {
		return a.top[a.topMark:]
	}
	return a.scratch[mark:]
}

// Remove removes field i of the open object started at mark (the last
// field takes its place).
func (a *FieldArena) Remove(mark, i int) {
	p := a.Pending(mark)
	p[i] = p[len(p)-1]
	p[len(p)-1] = Field{}
	if _, top := topMark(mark); top {
		a.top = a.top[:len(a.top)-1]
	} else {
		a.scratch = a.scratch[:len(a.scratch)-1]
	}
}

// Finish ends the object started at mark and returns its fields.
func (a *FieldArena) Finish(mark int) *Fields {
	var list []Field
	if _, top := topMark(mark); top {
		list = a.top[a.topMark:len(a.top):len(a.top)]
	} else {
		fs := a.scratch[mark:]
		if cap(a.chunk)-len(a.chunk) < len(fs) {
			a.chunk = make([]Field, 0, max(arenaChunk, len(fs)))
		}
		start := len(a.chunk)
		a.chunk = append(a.chunk, fs...)
		list = a.chunk[start:len(a.chunk):len(a.chunk)]
		clear(fs)
		a.scratch = a.scratch[:mark]
	}
	a.depth--
	if len(a.structs) == cap(a.structs) {
		a.structs = make([]Fields, 0, 64)
	}
	a.structs = a.structs[:len(a.structs)+1]
	f := &a.structs[len(a.structs)-1]
	f.list = list
	return f
}

// Abort drops the object started at mark, for a parser that gave up on
// it: the innermost open object, or an outermost one together with every
// object still open inside it.
func (a *FieldArena) Abort(mark int) {
	if _, top := topMark(mark); top {
		clear(a.top[a.topMark:])
		a.top = a.top[:a.topMark]
		clear(a.scratch)
		a.scratch = a.scratch[:0]
		a.depth = 0
		return
	}
	clear(a.scratch[mark:])
	a.scratch = a.scratch[:mark]
	a.depth--
}

// AbortAll drops every open object, for a parser that gave up in the
// middle of nested objects.
func (a *FieldArena) AbortAll() {
	if a.depth == 0 {
		return
	}
	a.Abort(-1 - a.topMark)
}
