package config

import (
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "90s" in JSON, env and flags.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is no duration (like 90s, 5m, 1h30m)", b)
	}
	*d = Duration(v)
	return nil
}

// PortRange is a range of UDP ports for RTP, written FIRST-LAST. A call
// takes an even port for RTP and the odd one above it for RTCP.
type PortRange struct{ First, Last int }

// Calls is how many calls the range holds at once: its even ports.
func (r PortRange) Calls() int {
	first, last := r.First+r.First&1, r.Last-r.Last&1
	return max(0, (last-first)/2+1)
}

func (r PortRange) String() string { return strconv.Itoa(r.First) + "-" + strconv.Itoa(r.Last) }

func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r *PortRange) UnmarshalText(b []byte) error {
	a, z, ok := strings.Cut(strings.TrimSpace(string(b)), "-")
	first, err1 := strconv.Atoi(a)
	last, err2 := strconv.Atoi(z)
	v := PortRange{first, last}
	if !ok || err1 != nil || err2 != nil || v.check() != nil {
		return fmt.Errorf("%q: want FIRST-LAST, two port numbers from 1024 to 65535 with room for at least one even port", b)
	}
	*r = v
	return nil
}

func (r PortRange) check() error {
	if r.First < 1024 || r.Last > 65535 || r.Calls() < 1 {
		return fmt.Errorf("%s: want two port numbers from 1024 to 65535 with room for at least one even port", r)
	}
	return nil
}

// Secret is a credential read from the environment or a file. Every way of
// printing it shows "[redacted]".
type Secret struct {
	value  []byte
	source string // "env DENWA_LINK_KEY", "file /run/secrets/key"
}

// NewSecret is a secret with the given value, read from source (which
// --print-config shows).
func NewSecret(value []byte, source string) Secret { return Secret{value: value, source: source} }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return len(s.value) > 0 }

func (s Secret) String() string               { return "[redacted]" }
func (s Secret) GoString() string             { return "[redacted]" }
func (s Secret) Format(f fmt.State, _ rune)   { io.WriteString(f, "[redacted]") }
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (s Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }

// textValue is a text-encoded setting (Duration, PortRange).
type textValue interface {
	encoding.TextMarshaler
	encoding.TextUnmarshaler
}

// textFlag makes a textValue a pflag.Value.
type textFlag struct {
	v    textValue
	kind string
}

func (f textFlag) String() string {
	b, _ := f.v.MarshalText()
	return string(b)
}
func (f textFlag) Set(s string) error { return f.v.UnmarshalText([]byte(s)) }
func (f textFlag) Type() string       { return f.kind }
