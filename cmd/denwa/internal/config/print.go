package config

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Print writes the effective configuration c as a commented JSON file
// that Loader reads back: each key with what it means, its environment
// variable and flag, its default and where its value came from (src, as
// Load returns it). Secrets appear only as comments saying whether they
// are set and from where.
func Print(w io.Writer, c *Serve, src map[string]string) error {
	defs := settingsOf(DefaultServe(), "")
	defaults := make(map[string]setting, len(defs))
	for _, s := range defs {
		defaults[s.path] = s
	}
	var b strings.Builder
	b.WriteString(`// denwa serve configuration: the effective settings, as a config file.
// Lines starting with // are comments. Precedence: flags > environment > this file > defaults.
// Each key's environment variable is DENWA_ + its path (sip.ring_timeout: DENWA_SIP_RING_TIMEOUT;
// lists comma-separated); empty variables are ignored. The file itself: --config or DENWA_CONFIG.
// Secrets are never read from this file or from flags: only from their environment variable
// or from a file named by their *_file key (or the *_FILE environment variable).
`)
	var write func(prefix string, indent string, items []setting)
	write = func(prefix, indent string, items []setting) {
		b.WriteString("{\n")
		// Group the items by their next path element, keeping order.
		type entry struct {
			key   string
			leaf  *setting
			group []setting
		}
		var entries []entry
		for i := range items {
			s := items[i]
			rest := strings.TrimPrefix(s.path, prefix)
			head, _, nested := strings.Cut(rest, ".")
			if !nested {
				entries = append(entries, entry{key: head, leaf: &items[i]})
				continue
			}
			if n := len(entries); n > 0 && entries[n-1].key == head && entries[n-1].leaf == nil {
				entries[n-1].group = append(entries[n-1].group, s)
				continue
			}
			entries = append(entries, entry{key: head, group: []setting{s}})
		}
		// The last entry that is written as a key (not a comment) takes no comma.
		lastKey := -1
		for i, e := range entries {
			if e.leaf == nil || !e.leaf.secret {
				lastKey = i
			}
		}
		in := indent + "  "
		for i, e := range entries {
			comma := ","
			if i == lastKey {
				comma = ""
			}
			if e.leaf == nil {
				fmt.Fprintf(&b, "%s%q: ", in, e.key)
				write(prefix+e.key+".", in, e.group)
				b.WriteString(comma + "\n")
				continue
			}
			s := *e.leaf
			if s.secret {
				state := "not set"
				if sec := s.field.Interface().(Secret); sec.IsSet() {
					state = "[redacted], from " + sec.source
				}
				fmt.Fprintf(&b, "%s// %s (secret): %s.\n%s//   %s, or the file named by %s_file / %s_FILE; now: %s\n",
					in, e.key, s.doc, in, s.env, e.key, s.env, state)
				continue
			}
			val, def := jsonValue(s.field), jsonValue(defaults[s.path].field)
			how := s.env
			if s.flag != "" {
				how += ", --" + s.flag
			}
			fmt.Fprintf(&b, "%s// %s.\n%s//   %s; default %s", in, s.doc, in, how, def)
			if from := src[s.path]; from != "" && from != "default" {
				fmt.Fprintf(&b, "; set by %s", from)
			}
			fmt.Fprintf(&b, "\n%s%q: %s%s\n", in, e.key, val, comma)
		}
		b.WriteString(indent + "}")
	}
	write("", "", settingsOf(c, ""))
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonValue is the JSON form of a setting's value; a nil list is [].
func jsonValue(v reflect.Value) []byte {
	if v.Kind() == reflect.Slice && v.IsNil() {
		return []byte("[]")
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		panic(err) // every setting type marshals
	}
	return b
}
