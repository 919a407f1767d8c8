package config

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/drover-dev/drover/internal/secret"
)

// Dump renders the configuration as drover runs it, every default filled
// in, as indented JSON keyed by the configuration's own attribute names
// (durations and sizes as strings). Every secret is replaced by
// secret.Mask.
func (c *Config) Dump() ([]byte, error) {
	type comp struct {
		Kind   string   `json:"kind"`
		Type   string   `json:"type"`
		ID     string   `json:"id"`
		Inputs []string `json:"inputs,omitempty"`
		Buffer any      `json:"buffer,omitempty"`
		Config any      `json:"config"`
	}
	out := struct {
		Files      []string `json:"files"`
		Globals    any      `json:"globals"`
		Components []comp   `json:"components"`
	}{Files: c.Files, Globals: dumpValue(reflect.ValueOf(c).Elem())}
	for _, cc := range c.Components {
		d := comp{Kind: string(cc.Kind), Type: cc.Type, ID: cc.ID, Inputs: cc.Inputs, Config: dumpValue(reflect.ValueOf(cc.Config))}
		if cc.Buffer != (Buffer{}) {
			d.Buffer = dumpValue(reflect.ValueOf(cc.Buffer))
		}
		out.Components = append(out.Components, d)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return []byte(secret.NewRedactor(c.Secrets...).Redact(string(b))), nil
}

// dumpValue turns a configuration value into plain data keyed by hcl
// names.
func dumpValue(v reflect.Value) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Type() {
	case durationType:
		return time.Duration(v.Int()).String()
	case byteSizeType:
		return ByteSize(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		for _, f := range specsOf(v.Type()) {
			m[f.name] = dumpValue(v.FieldByIndex(f.index))
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = dumpValue(v.Index(i))
		}
		return out
	case reflect.Map:
		m := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = dumpValue(iter.Value())
		}
		return m
	}
	return v.Interface()
}
