package config

import (
	"bytes"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// loadConfig runs the loader over fake files, environment and arguments.
func loadConfig(t *testing.T, files map[string]string, env map[string]string, args ...string) (*Serve, map[string]string, error) {
	t.Helper()
	var l Loader
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	l.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flags %v: %v", args, err)
	}
	l.Getenv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	l.ReadFile = func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &pathError{name}
	}
	return l.Load()
}

type pathError struct{ name string }

func (e *pathError) Error() string { return "open " + e.name + ": no such file or directory" }
func (e *pathError) Unwrap() error { return fs.ErrNotExist }

const testLinkKey = "0123456789abcdef0123456789abcdef-link"

// Each layer overrides the one before: defaults < file < environment < flags.
func TestConfigPrecedence(t *testing.T) {
	file := `{
		// a comment line
		"http": {"addr": "127.0.0.1:7000", "base_url": "https://file.example"},
		"sip": {"trunk": "sip:file.example", "ring_timeout": "20s", "dial_plan": ["+81>0"]},
		"limits": {"per_number": 7}
	}`
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(c *Serve) bool
		src   map[string]string
	}{
		{
			name:  "defaults",
			check: func(c *Serve) bool { return reflect.DeepEqual(c, DefaultServe()) },
			src:   map[string]string{"http.addr": "default", "sip.trunk": "default"},
		},
		{
			name: "file",
			env:  map[string]string{"DENWA_CONFIG": "/etc/denwa.json"},
			check: func(c *Serve) bool {
				return c.HTTP.Addr == "127.0.0.1:7000" && c.SIP.Trunk == "sip:file.example" &&
					c.SIP.RingTimeout == Duration(20*time.Second) && c.Limits.PerNumber == 7 &&
					reflect.DeepEqual(c.SIP.DialPlan, []string{"+81>0"}) && c.Limits.PerUser == 5 && c.Store.Path == "./denwa.db"
			},
			src: map[string]string{"http.addr": "file /etc/denwa.json", "limits.per_user": "default"},
		},
		{
			name: "env over file",
			env: map[string]string{
				"DENWA_CONFIG": "/etc/denwa.json", "DENWA_HTTP_ADDR": "127.0.0.1:7001", "DENWA_SIP_RING_TIMEOUT": "30s",
				"DENWA_SIP_DIAL_PLAN": "+81>0, +1>001", "DENWA_PHONE_ALLOWED_COUNTRIES": "JP,US", "DENWA_LIMITS_PER_NUMBER": "-1",
				"DENWA_SIP_TRUNK": "", // empty: ignored
			},
			check: func(c *Serve) bool {
				return c.HTTP.Addr == "127.0.0.1:7001" && c.SIP.RingTimeout == Duration(30*time.Second) &&
					reflect.DeepEqual(c.SIP.DialPlan, []string{"+81>0", "+1>001"}) && c.Limits.PerNumber == -1 &&
					reflect.DeepEqual(c.Phone.AllowedCountries, []string{"JP", "US"}) && c.SIP.Trunk == "sip:file.example" &&
					c.HTTP.BaseURL == "https://file.example"
			},
			src: map[string]string{"http.addr": "env DENWA_HTTP_ADDR", "sip.trunk": "file /etc/denwa.json"},
		},
		{
			name: "flags over env over file",
			env:  map[string]string{"DENWA_HTTP_ADDR": "127.0.0.1:7001", "DENWA_SIP_TRUNK": "sip:env.example", "DENWA_SIP_EVENT_PT": "96"},
			args: []string{"--config", "/etc/denwa.json", "--http", "127.0.0.1:7002", "--ring-timeout", "40s", "--dial-plan", "+81>00", "--store", "/var/lib/denwa.db"},
			check: func(c *Serve) bool {
				return c.HTTP.Addr == "127.0.0.1:7002" && c.SIP.Trunk == "sip:env.example" && c.SIP.EventPT == 96 &&
					c.SIP.RingTimeout == Duration(40*time.Second) && reflect.DeepEqual(c.SIP.DialPlan, []string{"+81>00"}) &&
					c.Store.Path == "/var/lib/denwa.db" && c.Limits.PerNumber == 7
			},
			src: map[string]string{"http.addr": "flag --http", "sip.trunk": "env DENWA_SIP_TRUNK", "limits.per_number": "file /etc/denwa.json"},
		},
		{
			name:  "a flag left at its default does not override",
			env:   map[string]string{"DENWA_SIP_CODECS": "pcma"},
			args:  []string{"--trunk", "sip:x"},
			check: func(c *Serve) bool { return c.SIP.Codecs == "pcma" && c.SIP.Trunk == "sip:x" },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, src, err := loadConfig(t, map[string]string{"/etc/denwa.json": file}, c.env, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Errorf("config %+v", *cfg)
			}
			for k, want := range c.src {
				if src[k] != want {
					t.Errorf("source of %s = %q, want %q", k, src[k], want)
				}
			}
		})
	}
}

// Secrets come from their variable or a file (named by *_FILE or the
// file's *_file key), never from flags or the config file itself.
func TestConfigSecrets(t *testing.T) {
	files := map[string]string{
		"/run/secrets/sip":   "sip-secret-from-file\n",
		"/run/secrets/empty": "\n",
		"/etc/denwa.json":    `{"sip": {"trunk": "sip:pbx", "password_file": "/run/secrets/sip"}}`,
		"/etc/leak.json":     `{"sip": {"trunk": "sip:pbx", "password": "hunter2-in-file"}}`,
	}
	t.Run("env", func(t *testing.T) {
		c, src, err := loadConfig(t, files, map[string]string{"DENWA_SIP_PASSWORD": "hunter2", "DENWA_LINK_KEY": testLinkKey})
		if err != nil {
			t.Fatal(err)
		}
		if string(c.SIP.Password.value) != "hunter2" || src["sip.password"] != "env DENWA_SIP_PASSWORD" || string(c.Link.Key.value) != testLinkKey {
			t.Fatalf("password from %q, link key %d bytes", src["sip.password"], len(c.Link.Key.value))
		}
	})
	t.Run("file named by the config file", func(t *testing.T) {
		c, src, err := loadConfig(t, files, map[string]string{"DENWA_CONFIG": "/etc/denwa.json"})
		if err != nil {
			t.Fatal(err)
		}
		if string(c.SIP.Password.value) != "sip-secret-from-file" || src["sip.password"] != "file /run/secrets/sip" {
			t.Fatalf("password %q from %q", c.SIP.Password.value, src["sip.password"])
		}
	})
	t.Run("env beats a file named by the config file", func(t *testing.T) {
		c, _, err := loadConfig(t, files, map[string]string{"DENWA_CONFIG": "/etc/denwa.json", "DENWA_SIP_PASSWORD": "hunter2"})
		if err != nil || string(c.SIP.Password.value) != "hunter2" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("_FILE env", func(t *testing.T) {
		c, _, err := loadConfig(t, files, map[string]string{"DENWA_WEBHOOK_SECRET_FILE": "/run/secrets/sip"})
		if err != nil || string(c.Webhook.Secret.value) != "sip-secret-from-file" {
			t.Fatalf("%v", err)
		}
	})
	bad := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"both env and _FILE", map[string]string{"DENWA_SIP_PASSWORD": "hunter2", "DENWA_SIP_PASSWORD_FILE": "/run/secrets/sip"}, "both DENWA_SIP_PASSWORD and DENWA_SIP_PASSWORD_FILE"},
		{"missing file", map[string]string{"DENWA_LINK_KEY_FILE": "/run/secrets/none"}, "link.key_file (env DENWA_LINK_KEY_FILE): open /run/secrets/none"},
		{"empty file", map[string]string{"DENWA_LINK_KEY_FILE": "/run/secrets/empty"}, "is empty"},
		{"secret in the config file", map[string]string{"DENWA_CONFIG": "/etc/leak.json"}, "sip.password: secrets are never read from the config file; set DENWA_SIP_PASSWORD"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := loadConfig(t, files, c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to say %q", err, c.want)
			}
			for _, s := range []string{"hunter2", "sip-secret-from-file"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
		})
	}
	// No flag takes a secret.
	var l Loader
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	l.RegisterFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "tls-key" { // the path of a PEM file, never the key itself
			return
		}
		for _, w := range []string{"password", "secret", "key"} {
			if strings.Contains(f.Name, w) {
				t.Errorf("flag --%s looks like a secret", f.Name)
			}
		}
	})
}

// Each bad setting is refused with its name and what is wanted.
func TestConfigValidation(t *testing.T) {
	good := map[string]string{"DENWA_SIP_TRUNK": "sip:127.0.0.1:5060"}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no trunk", map[string]string{}, nil, "sip.trunk: required"},
		{"http addr", nil, []string{"--http", "8080"}, `http.addr: "8080" is no host:port`},
		{"base url", nil, []string{"--base-url", "denwa.example.com"}, "http.base_url"},
		{"codec", nil, []string{"--codec", "opus"}, `sip.codecs: "opus": want pcmu, pcma`},
		{"rtp ports", map[string]string{"DENWA_SIP_RTP_PORTS": "5-3"}, nil, "sip.rtp_ports"},
		{"dial plan", nil, []string{"--dial-plan", "nothing"}, "sip.dial_plan"},
		{"event pt", nil, []string{"--event-pt", "8"}, "sip.event_pt: 8"},
		{"transport", nil, []string{"--transport", "sctp"}, "sip.transport"},
		{"srtp", map[string]string{"DENWA_SIP_SRTP": "sdes"}, nil, `sip.srtp: "sdes": want off, optional or required`},
		{"ring timeout", nil, []string{"--ring-timeout", "0s"}, "sip.ring_timeout: must be positive"},
		{"call timeout shorter than ringing", map[string]string{"DENWA_CALLS_TIMEOUT": "30s"}, nil, "calls.timeout: 30s is shorter than sip.ring_timeout"},
		{"limit zero", map[string]string{"DENWA_LIMITS_PER_IP": "0"}, nil, "limits.per_ip: 0"},
		{"limit not a number", map[string]string{"DENWA_LIMITS_PER_IP": "many"}, nil, `limits.per_ip (env DENWA_LIMITS_PER_IP): "many" is no whole number`},
		{"duration", map[string]string{"DENWA_LINK_TTL": "10"}, nil, `link.ttl (env DENWA_LINK_TTL): "10" is no duration`},
		{"country", nil, []string{"--allowed-countries", "XX"}, "phone.allowed_countries"},
		{"default country", map[string]string{"DENWA_PHONE_DEFAULT_COUNTRY": "ZZ"}, nil, `phone.default_country: "ZZ"`},
		{"short link key", map[string]string{"DENWA_LINK_KEY": "hunter2hunter2"}, nil, "link.key: 14 bytes (env DENWA_LINK_KEY); want at least 32"},
		{"webhook without secret", nil, []string{"--webhook-url", "https://hooks.example/denwa"}, "webhook.secret: required with webhook.url"},
		{"webhook short secret", map[string]string{"DENWA_WEBHOOK_SECRET": "hunter2hunter2"}, []string{"--webhook-url", "https://hooks.example/denwa"}, "webhook.secret: 14 bytes"},
		{"webhook url", map[string]string{"DENWA_WEBHOOK_SECRET": testLinkKey}, []string{"--webhook-url", "ftp://x"}, "webhook.url"},
		{"log format", nil, []string{"--log-format", "xml"}, "log.format"},
		{"log level", nil, []string{"--log-level", "loud"}, "log.level"},
		{"challenge too short", map[string]string{"DENWA_CHALLENGE_DIGITS": "2"}, nil, "challenge_digits: 2: want 0 (off) or 3 to 6"},
		{"challenge too long", nil, []string{"--challenge-digits", "7"}, "challenge_digits: 7"},
		{"prompt language", map[string]string{"DENWA_PROMPT_LANGUAGE": "fr"}, nil, `prompt_language: "fr": want ja or en`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range good {
				env[k] = v
			}
			if c.env != nil && len(c.env) == 0 {
				env = map[string]string{}
			}
			for k, v := range c.env {
				env[k] = v
			}
			cfg, _, err := loadConfig(t, nil, env, c.args...)
			if err == nil {
				_, err = cfg.Check()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error shows a secret: %v", err)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		cfg, _, err := loadConfig(t, nil, good)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Check(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("challenge on, in English", func(t *testing.T) {
		env := map[string]string{"DENWA_CHALLENGE_DIGITS": "4", "DENWA_PROMPT_LANGUAGE": "en"}
		for k, v := range good {
			env[k] = v
		}
		cfg, _, err := loadConfig(t, nil, env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Check(); err != nil {
			t.Fatal(err)
		}
		if cfg.ChallengeDigits != 4 || cfg.PromptLanguage != "en" {
			t.Errorf("challenge_digits %d prompt_language %q", cfg.ChallengeDigits, cfg.PromptLanguage)
		}
	})
	t.Run("challenge off by default", func(t *testing.T) {
		if d := DefaultServe(); d.ChallengeDigits != 0 || d.PromptLanguage != "ja" {
			t.Errorf("defaults: challenge_digits %d prompt_language %q", d.ChallengeDigits, d.PromptLanguage)
		}
	})
}

// The config file is read strictly, and its errors say where.
func TestConfigFileErrors(t *testing.T) {
	cases := []struct{ name, file, want string }{
		{"syntax", "{\n\"http\": {\"addr\": \"x\",}\n}", "config file /c.json: line 2: invalid character '}'"},
		{"unknown key", `{"http": {"adress": "x"}}`, `unknown field "adress"`},
		{"unknown section", `{"smtp": {}}`, `unknown field "smtp"`},
		{"wrong type", "{\"limits\": {\n\"per_ip\": \"ten\"}}", "line 2: limits.per_ip: want a number, not a JSON string"},
		{"bad duration", `{"sip": {"ring_timeout": "soon"}}`, `"soon" is no duration`},
		{"wrong type in an embedded section", `{"sip": {"codecs": 5}}`, "line 1: sip.codecs: want a string, not a JSON number"},
		{"bad port range", `{"sip": {"rtp_ports": "5-3"}}`, `"5-3": want FIRST-LAST`},
		{"two objects", `{} {}`, "after top-level value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := loadConfig(t, map[string]string{"/c.json": c.file}, nil, "--config", "/c.json")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to say %q", err, c.want)
			}
		})
	}
	_, _, err := loadConfig(t, nil, nil, "--config", "/none.json")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// --print-config documents every setting, shows no secret, and is itself a
// config file that loads back to the same settings.
func TestPrintConfig(t *testing.T) {
	files := map[string]string{"/run/secrets/hook": "hook-secret-hook-secret-hook-secret-0123\n"}
	env := map[string]string{
		"DENWA_SIP_PASSWORD": "hunter2-sip", "DENWA_LINK_KEY": testLinkKey, "DENWA_WEBHOOK_SECRET_FILE": "/run/secrets/hook",
		"DENWA_SIP_TRUNK": "sip:pbx.example.com", "DENWA_PHONE_ALLOWED_COUNTRIES": "JP,US",
	}
	cfg, src, err := loadConfig(t, files, env, "--webhook-url", "https://hooks.example/x", "--dial-plan", "+81>0")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Print(&out, cfg, src); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, s := range []string{"hunter2-sip", testLinkKey, "hook-secret"} {
		if strings.Contains(text, s) {
			t.Fatalf("--print-config shows a secret:\n%s", text)
		}
	}
	for _, want := range []string{
		"DENWA_SIP_PASSWORD, or the file named by password_file / DENWA_SIP_PASSWORD_FILE; now: [redacted], from env DENWA_SIP_PASSWORD",
		"now: [redacted], from file /run/secrets/hook",
		`"trunk": "sip:pbx.example.com"`, "set by env DENWA_SIP_TRUNK", "set by flag --webhook-url",
		`default "127.0.0.1:8080"`, `default "./denwa.db"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("--print-config lacks %q", want)
		}
	}
	// Every setting is documented.
	for _, s := range settingsOf(cfg, "") {
		if s.doc == "" {
			t.Errorf("%s has no doc", s.path)
		}
		if !s.secret && !strings.Contains(text, s.env) {
			t.Errorf("--print-config does not name %s", s.env)
		}
	}
	// It reads back, secrets still from their own places.
	files["/printed.json"] = text
	back, _, err := loadConfig(t, files, map[string]string{"DENWA_SIP_PASSWORD": "hunter2-sip", "DENWA_LINK_KEY": testLinkKey}, "--config", "/printed.json")
	if err != nil {
		t.Fatalf("reading the printed config: %v\n%s", err, text)
	}
	back.Webhook.Secret = cfg.Webhook.Secret // came from the env's _FILE, not the printed file
	back.Webhook.SecretFile = cfg.Webhook.SecretFile
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("printed config reads back as\n%+v\nwant\n%+v", *back, *cfg)
	}
	// fmt and the secret type never show a value.
	if s := strings.Join([]string{cfg.SIP.Password.String(), cfg.Link.Key.GoString()}, " "); strings.Contains(s, "hunter2") {
		t.Fatal(s)
	}
}
