package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// setting is one leaf of a settings struct (Serve, SIP, RTP), found by
// reflection over its tags.
type setting struct {
	path  string // "sip.trunk"
	env   string // "DENWA_SIP_TRUNK"
	flag  string // "trunk", or ""
	doc   string
	field reflect.Value
	// secret settings: the path of the setting naming their file.
	secret   bool
	filePath string
}

// settingsOf lists the leaves of the struct *v in declaration order, their
// paths starting with prefix ("" for Serve, "sip." for its SIP section).
func settingsOf(v any, prefix string) []setting {
	var out []setting
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			fv := v.Field(i)
			if sn, ok := sf.Tag.Lookup("secret"); ok {
				out = append(out, setting{
					path: prefix + sn, env: EnvName(prefix + sn), doc: sf.Tag.Get("doc"),
					field: fv, secret: true, filePath: prefix + sn + "_file",
				})
				continue
			}
			name, tagged := sf.Tag.Lookup("json")
			if sf.Anonymous && !tagged {
				walk(fv, prefix) // its keys are its parent's, as in encoding/json
				continue
			}
			if sf.Type.Kind() == reflect.Struct && !isValue(sf.Type) {
				walk(fv, prefix+name+".")
				continue
			}
			env := sf.Tag.Get("env")
			if env == "" {
				env = EnvName(prefix + name)
			}
			out = append(out, setting{path: prefix + name, env: env, flag: sf.Tag.Get("flag"), doc: sf.Tag.Get("doc"), field: fv})
		}
	}
	walk(reflect.ValueOf(v).Elem(), prefix)
	return out
}

// isValue reports whether a struct type is one setting (PortRange), not a
// section.
func isValue(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[textValue]())
}

// EnvName is the environment variable of the setting at path ("store.path":
// DENWA_STORE_PATH).
func EnvName(path string) string {
	return "DENWA_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// setText sets a leaf from its text form (an environment variable).
func setText(v reflect.Value, s string) error {
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = s
	case textValue:
		return p.UnmarshalText([]byte(strings.TrimSpace(s)))
	case *[]string:
		var l []string
		for f := range strings.SplitSeq(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				l = append(l, f)
			}
		}
		*p = l
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is no whole number", s)
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is no whole number", s)
		}
		*p = n
	case *uint8:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 8)
		if err != nil {
			return fmt.Errorf("%q is no number from 0 to 255", s)
		}
		*p = uint8(n)
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*p = b
	default:
		panic("config: no text form for " + v.Type().String())
	}
	return nil
}

// bindFlags adds a flag for every setting that has one to fs, bound to the
// setting's field, with its current value as the default. sources adds
// the setting's path and environment variable to the help.
func bindFlags(fs *pflag.FlagSet, settings []setting, sources bool) {
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		usage := s.doc
		if r, ok := s.field.Interface().(PortRange); ok {
			usage += fmt.Sprintf("; the default holds %d calls at once", r.Calls())
		}
		_, list := s.field.Interface().([]string)
		if list {
			usage += "; repeatable"
		}
		if sources {
			env := s.env
			if list {
				env += ", comma-separated"
			}
			usage += " (" + s.path + ", " + env + ")"
		}
		switch p := s.field.Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, s.flag, *p, usage)
		case *Duration:
			fs.Var(textFlag{p, "duration"}, s.flag, usage)
		case *PortRange:
			fs.Var(textFlag{p, "FIRST-LAST"}, s.flag, usage)
		case *[]string:
			fs.StringArrayVar(p, s.flag, *p, usage)
		case *int:
			fs.IntVar(p, s.flag, *p, usage)
		case *int64:
			fs.Int64Var(p, s.flag, *p, usage)
		case *uint8:
			fs.Uint8Var(p, s.flag, *p, usage)
		case *bool:
			fs.BoolVar(p, s.flag, *p, usage)
		default:
			panic("config: no flag type for " + s.path)
		}
	}
}
