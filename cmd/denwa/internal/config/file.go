package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// loadFile reads the JSON config file at path into c, strictly (unknown keys
// are errors), and returns the setting paths it set. Lines whose first
// non-blank characters are // are comments, so --print-config's output is a
// valid config file.
func (l *Loader) loadFile(c *Serve, path string) (map[string]bool, error) {
	raw, err := l.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	data := stripComments(raw)

	// Which keys are present, and no secret among them.
	var tree map[string]json.RawMessage
	if err := json.Unmarshal(data, &tree); err != nil {
		return nil, fmt.Errorf("config file %s: %s", path, jsonErrorAt(data, err))
	}
	secrets := secretHints(c)
	present := map[string]bool{}
	for k, v := range tree {
		var sub map[string]json.RawMessage
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) && json.Unmarshal(v, &sub) == nil {
			for sk := range sub {
				p := k + "." + sk
				if how, ok := secrets[p]; ok {
					return nil, fmt.Errorf("config file %s: %s: secrets are never read from the config file; %s", path, p, how)
				}
				present[p] = true
			}
			continue
		}
		present[k] = true
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("config file %s: %s", path, jsonErrorAt(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("config file %s: more than one JSON object", path)
	}
	return present, nil
}

// secretHints maps the path of each secret, a key a config file may not
// hold, to the way to give it instead.
func secretHints(c *Serve) map[string]string {
	hints := map[string]string{}
	for _, s := range settingsOf(c, "") {
		if s.secret {
			hints[s.path] = fmt.Sprintf("set %s, or put it in a file named by %s (or %s_FILE)", s.env, s.filePath, s.env)
		}
	}
	return hints
}

// stripComments blanks the lines that are // comments, keeping line numbers.
func stripComments(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, ln := range lines {
		if bytes.HasPrefix(bytes.TrimSpace(ln), []byte("//")) {
			lines[i] = nil
		}
	}
	return bytes.Join(lines, []byte("\n"))
}

// jsonErrorAt says where in data a decoding error is, as "line N: …".
func jsonErrorAt(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
		if te.Field != "" {
			return fmt.Sprintf("line %d: %s: want a %s, not a JSON %s", lineAt(data, off), keyPath(te.Field), typeWord(te.Type), te.Value)
		}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if off < 0 {
		return msg
	}
	return fmt.Sprintf("line %d: %s", lineAt(data, off), msg)
}

// keyPath is the setting path of a field path from encoding/json, which
// names embedded structs by their Go type ("sip.RTP.codecs"); keys are
// lower case, so the path drops the elements that are not.
func keyPath(field string) string {
	var keep []string
	for e := range strings.SplitSeq(field, ".") {
		if e != "" && !unicode.IsUpper(rune(e[0])) {
			keep = append(keep, e)
		}
	}
	return strings.Join(keep, ".")
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// typeWord names a setting's type for a user.
func typeWord(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "duration string (\"90s\")"
	case reflect.TypeFor[PortRange]():
		return "port range string (\"30000-39999\")"
	case reflect.TypeFor[[]string]():
		return "list of strings"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint8:
		return "number"
	}
	return t.String()
}
