package testplan

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"denwa/dtmf"
)

// builtins are the plans [Builtin] knows, by name.
var builtins = map[string]func() Plan{
	"quick": Quick,
	"q24":   Q24,
	"japan": Japan,
}

// BuiltinNames lists the built-in plans' names, sorted.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtin returns the built-in plan of that name, and false when there is
// none. Each call returns a fresh copy.
func Builtin(name string) (Plan, bool) {
	f, ok := builtins[name]
	if !ok {
		return Plan{}, false
	}
	return f(), true
}

// Load returns the built-in plan called name, else the plan file open
// gives for name (os.Open, for a command), read by [Parse]. Errors name
// the plan; a name that is neither says which plans are built in.
func Load(name string, open func(name string) (io.ReadCloser, error)) (Plan, error) {
	if p, ok := Builtin(name); ok {
		return p, nil
	}
	f, err := open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Plan{}, fmt.Errorf("testplan: %q is no built-in plan (%s) and no file", name, strings.Join(BuiltinNames(), ", "))
		}
		return Plan{}, fmt.Errorf("testplan: %w", err)
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		return Plan{}, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// Quick is the smoke test: the 16 keys once in each mode, nominal (in-band
// −10 dBm0 per tone, 100 ms, 100 ms apart; RFC 4733 100 ms events at
// volume 10; SIP INFO dtmf-relay with Duration=100), all to be detected.
func Quick() Plan {
	p := Plan{Name: "quick"}
	for _, m := range Modes {
		for _, k := range dtmf.Keys {
			c := Case{ID: fmt.Sprintf("quick/%s/%s", m, k), Mode: m, Key: k, Expect: ExpectDetect,
				DurationMs: 100, GapMs: 100, Note: "nominal key"}
			switch m {
			case ModeInband:
				c.Inband = &Inband{LowDBm0: -10, HighDBm0: -10}
			case ModeRFC4733:
				c.RFC4733 = &RFC4733{Volume: 10}
			case ModeSIPInfo:
				c.SIPInfo = &SIPInfo{Format: dtmf.InfoDTMFRelay}
			}
			p.Cases = append(p.Cases, c)
		}
	}
	return p
}
