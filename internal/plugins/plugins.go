// Package plugins links every built-in component type into the binary.
// Importing it registers them with internal/component.
package plugins
