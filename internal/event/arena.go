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
type FieldArena struct {
	scratch []Field
	chunk   []Field
	structs []Fields
}

const arenaChunk = 256

// Mark starts an object (objects nest: a nested one is started and
// finished between its parent's Mark and Finish).
func (a *FieldArena) Mark() int { return len(a.scratch) }

// Push adds a field to the object started at the last Mark. Keys are not
// checked: see Set.
func (a *FieldArena) Push(f Field) { a.scratch = append(a.scratch, f) }

// Set adds a field to the object started at mark, replacing the value of
// an earlier field with the same key.
func (a *FieldArena) Set(mark int, key string, v Value) {
	for i := mark; i < len(a.scratch); i++ {
		if a.scratch[i].Key == key {
			a.scratch[i].Value = v
			return
		}
	}
	a.scratch = append(a.scratch, Field{Key: key, Value: v})
}

// Pending returns the fields of the object started at mark, for the caller
// to change values in place.
func (a *FieldArena) Pending(mark int) []Field { return a.scratch[mark:] }

// Finish ends the object started at mark and returns its fields.
func (a *FieldArena) Finish(mark int) *Fields {
	fs := a.scratch[mark:]
	if cap(a.chunk)-len(a.chunk) < len(fs) {
		a.chunk = make([]Field, 0, max(arenaChunk, len(fs)))
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, fs...)
	list := a.chunk[start:len(a.chunk):len(a.chunk)]
	a.scratch = a.scratch[:mark]
	if len(a.structs) == cap(a.structs) {
		a.structs = make([]Fields, 0, 64)
	}
	a.structs = a.structs[:len(a.structs)+1]
	f := &a.structs[len(a.structs)-1]
	f.list = list
	return f
}

// Abort drops the fields pushed since mark, for a parser that gave up on
// the object.
func (a *FieldArena) Abort(mark int) { a.scratch = a.scratch[:mark] }
