package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/spf13/pflag"
)

// Loader builds the effective Serve configuration from its layers, last
// wins: defaults, the file (--config or DENWA_CONFIG), the environment
// (empty variables are ignored), the flags the user gave.
type Loader struct {
	// Getenv reads the environment (os.LookupEnv outside tests).
	Getenv func(string) (string, bool)
	// ReadFile reads the config file and secret files (os.ReadFile).
	ReadFile func(string) ([]byte, error)

	// flags holds the values the flags were parsed into; only those the
	// user changed apply.
	flags   *Serve
	flagSet *pflag.FlagSet
	// path is --config.
	path string
}

// RegisterFlags adds --config and a flag for every setting that has one to
// fs, with the defaults in their help.
func (l *Loader) RegisterFlags(fs *pflag.FlagSet) {
	l.flags = DefaultServe()
	l.flagSet = fs
	fs.StringVar(&l.path, "config", "", "JSON config file (also "+FileEnv+"); see --print-config")
	bindFlags(fs, settingsOf(l.flags, ""), true)
}

// Load returns the effective configuration and where each setting came
// from ("default", "file …", "env …", "flag --…"). Errors name the setting
// and its source, never a secret's value.
func (l *Loader) Load() (*Serve, map[string]string, error) {
	c := DefaultServe()
	all := settingsOf(c, "")
	src := make(map[string]string, len(all))
	byPath := make(map[string]setting, len(all))
	for _, s := range all {
		src[s.path] = "default"
		byPath[s.path] = s
	}

	// The file.
	path := l.path
	if path == "" {
		path, _ = l.Getenv(FileEnv)
	}
	if path != "" {
		present, err := l.loadFile(c, path)
		if err != nil {
			return nil, nil, err
		}
		for p := range present {
			src[p] = "file " + path
		}
	}

	// The environment.
	var errs []error
	for _, s := range all {
		if s.secret {
			continue
		}
		v, ok := l.Getenv(s.env)
		if !ok || v == "" {
			continue
		}
		if err := setText(s.field, v); err != nil {
			errs = append(errs, fmt.Errorf("%s (env %s): %w", s.path, s.env, err))
			continue
		}
		src[s.path] = "env " + s.env
	}

	// The flags the user gave.
	if l.flagSet != nil {
		fl := settingsOf(l.flags, "")
		for i, s := range all {
			if s.flag == "" || !l.flagSet.Changed(s.flag) {
				continue
			}
			s.field.Set(fl[i].field)
			src[s.path] = "flag --" + s.flag
		}
	}

	// The secrets.
	for _, s := range all {
		if !s.secret {
			continue
		}
		sec, err := l.loadSecret(s, byPath[s.filePath], src[s.filePath])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.field.Set(reflect.ValueOf(sec))
		if sec.IsSet() {
			src[s.path] = sec.source
		} else {
			src[s.path] = "unset"
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return c, src, nil
}

// loadSecret reads one secret: from its environment variable, or else from
// the file its *_file setting names (itself from the file, the
// environment's *_FILE variable or a flag). Both an environment variable and
// a *_FILE variable is an error: which one was meant?
func (l *Loader) loadSecret(s, file setting, fileSrc string) (Secret, error) {
	v, ok := l.Getenv(s.env)
	name := file.field.String()
	if ok && v != "" {
		if name != "" && fileSrc == "env "+file.env {
			return Secret{}, fmt.Errorf("%s: both %s and %s are set; set one", s.path, s.env, file.env)
		}
		return Secret{value: []byte(v), source: "env " + s.env}, nil
	}
	if name == "" {
		return Secret{}, nil
	}
	b, err := l.ReadFile(name)
	if err != nil {
		// The error names the file, not its contents.
		return Secret{}, fmt.Errorf("%s (%s): %w", file.path, fileSrc, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return Secret{}, fmt.Errorf("%s (%s): %s is empty", file.path, fileSrc, name)
	}
	return Secret{value: b, source: "file " + name}, nil
}
