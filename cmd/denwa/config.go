package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"denwa/enroll"
	"denwa/sip"
)

// serveConfig is everything `denwa serve` can be told, in the shape of its
// JSON config file. Each leaf setting is a field whose tags say:
//
//	json  its key in the file (sections nest: "sip" → "trunk" is sip.trunk)
//	env   its environment variable; empty tag: DENWA_ + the key path in upper
//	      case with dots as underscores (sip.ring_timeout → DENWA_SIP_RING_TIMEOUT)
//	flag  its command-line flag, if it has one
//	doc   what --print-config says about it
//
// Secrets (fields of type secret) are never read from the file or flags:
// only from their environment variable (DENWA_SIP_PASSWORD) or from a file
// named by the sibling "<name>_file" setting (sip.password_file, which is
// also DENWA_SIP_PASSWORD_FILE).
//
// Layers, last wins: defaults, the file (--config or DENWA_CONFIG), the
// environment (empty variables are ignored), the flags.
type serveConfig struct {
	HTTP    httpSettings    `json:"http"`
	Store   storeSettings   `json:"store"`
	SIP     sipSettings     `json:"sip"`
	Prompts string          `json:"prompts" flag:"prompts" doc:"directory of the operator's own prompt recordings (NAME.wav, 8 kHz mono); empty: the shipped Japanese prompts"`
	Calls   callSettings    `json:"calls"`
	Limits  limitSettings   `json:"limits"`
	Phone   phoneSettings   `json:"phone"`
	Link    linkSettings    `json:"link"`
	Webhook webhookSettings `json:"webhook"`
	Log     logSettings     `json:"log"`
}

type httpSettings struct {
	Addr            string   `json:"addr" flag:"http" doc:"address the HTTP API listens on, host:port (port 0: any free port)"`
	BaseURL         string   `json:"base_url" flag:"base-url" doc:"public base URL of the API, put in enrollment links (https://denwa.example.com); empty: http://<addr>"`
	MaxBodyBytes    int64    `json:"max_body_bytes" doc:"largest request body accepted, in bytes"`
	ShutdownTimeout duration `json:"shutdown_timeout" doc:"on shutdown, how long requests in flight may take before their connections are closed"`
}

type storeSettings struct {
	Path string `json:"path" flag:"store" doc:"SQLite database file (created if missing); the one source of truth"`
}

type sipSettings struct {
	Trunk         string   `json:"trunk" flag:"trunk" doc:"SIP URI of the PBX or trunk, e.g. sip:pbx.example.com:5060;transport=tcp (required); the number dialled becomes the Request-URI user"`
	Transport     string   `json:"transport" flag:"transport" doc:"udp, tcp or tls; empty: the trunk URI's transport, else udp"`
	From          string   `json:"from" flag:"from" doc:"caller URI (caller ID), e.g. sip:0312340000@pbx.example.com; empty: sip:denwa@<trunk host>"`
	DisplayName   string   `json:"display_name" flag:"display-name" doc:"caller display name"`
	User          string   `json:"user" flag:"user" doc:"digest authentication user; empty: the From user"`
	Password      secret   `json:"-" secret:"password" doc:"digest password"`
	PasswordFile  string   `json:"password_file" doc:"file holding the digest password (instead of DENWA_SIP_PASSWORD)"`
	Bind          string   `json:"bind" flag:"bind" doc:"local SIP address ip:port (listens for the far end's BYE); empty: an ephemeral port"`
	Contact       string   `json:"contact" flag:"contact" doc:"host:port put in Contact and Via (a public address behind NAT); empty: the bound address"`
	OutboundProxy string   `json:"outbound_proxy" flag:"outbound-proxy" doc:"SIP URI every request is sent through"`
	Codecs        string   `json:"codecs" flag:"codec" doc:"codecs offered, in order of preference: pcmu, pcma"`
	RTPPorts      string   `json:"rtp_ports" flag:"rtp-ports" doc:"RTP port range FIRST-LAST (even ports are used)"`
	DialPlan      []string `json:"dial_plan" flag:"dial-plan" doc:"number rewrites before dialling, PREFIX>REPLACEMENT (\"+81>0\"), first match wins; env: comma-separated"`
	RingTimeout   duration `json:"ring_timeout" flag:"ring-timeout" doc:"give up (CANCEL) when not answered within this"`
	MaxDuration   duration `json:"max_duration" flag:"max-duration" doc:"hang up an answered call after this"`
	EventPT       uint8    `json:"event_pt" flag:"event-pt" doc:"telephone-event payload type offered"`
}

type callSettings struct {
	Grace       duration `json:"grace" flag:"shutdown-grace" doc:"on shutdown, how long calls in progress may go on before they are cut (recorded as failed)"`
	Timeout     duration `json:"timeout" doc:"longest verification call, from dialling to the end of the dialogue"`
	MaxAttempts int      `json:"max_attempts" doc:"calls one enrollment may place"`
	Node        string   `json:"node" flag:"node" doc:"this node's name among nodes sharing a store (each needs its own); empty: a single node"`
}

type limitSettings struct {
	PerNumber       int `json:"per_number" doc:"calls to one number per hour (-1: no limit)"`
	PerUser         int `json:"per_user" doc:"calls for one user per hour (-1: no limit)"`
	PerIP           int `json:"per_ip" doc:"calls for enrollments requested from one client IP per hour (-1: no limit)"`
	GlobalPerMinute int `json:"global_per_minute" doc:"calls per minute in all (-1: no limit)"`
}

type phoneSettings struct {
	AllowedCountries []string `json:"allowed_countries" flag:"allowed-countries" doc:"ISO 3166-1 regions whose numbers may be called; env: comma-separated"`
	DefaultCountry   string   `json:"default_country" doc:"region assumed for numbers typed without a country"`
	EnrollmentTTL    duration `json:"enrollment_ttl" doc:"how long a new enrollment has to be verified"`
}

type linkSettings struct {
	TTL     duration `json:"ttl" doc:"how long a one-time enrollment link works"`
	Key     secret   `json:"-" secret:"key" doc:"HMAC key signing enrollment links, at least 32 bytes; unset: a random key per start (links do not survive a restart)"`
	KeyFile string   `json:"key_file" doc:"file holding the link signing key (instead of DENWA_LINK_KEY)"`
}

type webhookSettings struct {
	URL        string `json:"url" flag:"webhook-url" doc:"URL the signed webhooks (verified, failed, fraud-reported) are posted to; empty: none"`
	Secret     secret `json:"-" secret:"secret" doc:"HMAC-SHA256 webhook signing secret, at least 32 bytes; required with a URL"`
	SecretFile string `json:"secret_file" doc:"file holding the webhook secret (instead of DENWA_WEBHOOK_SECRET)"`
}

type logSettings struct {
	Format string `json:"format" flag:"log-format" doc:"text or json (to stderr)"`
	Level  string `json:"level" flag:"log-level" doc:"debug, info, warn or error"`
}

// defaultServeConfig returns the defaults: a local single node.
func defaultServeConfig() *serveConfig {
	return &serveConfig{
		HTTP: httpSettings{
			Addr:            "127.0.0.1:8080",
			MaxBodyBytes:    64 << 10,
			ShutdownTimeout: duration(10 * time.Second),
		},
		Store: storeSettings{Path: "./denwa.db"},
		SIP: sipSettings{
			Codecs:      "pcmu,pcma",
			RTPPorts:    "30000-30999",
			RingTimeout: duration(60 * time.Second),
			MaxDuration: duration(5 * time.Minute),
			EventPT:     101,
		},
		Calls: callSettings{
			Grace:       duration(90 * time.Second),
			Timeout:     duration(enroll.DefaultCallTimeout),
			MaxAttempts: enroll.DefaultMaxAttempts,
		},
		Limits: limitSettings{
			PerNumber:       enroll.DefaultCallsPerNumber,
			PerUser:         enroll.DefaultCallsPerUser,
			PerIP:           enroll.DefaultCallsPerIP,
			GlobalPerMinute: enroll.DefaultCallsPerMinuteAll,
		},
		Phone: phoneSettings{
			AllowedCountries: []string{"JP"},
			DefaultCountry:   enroll.DefaultPhoneCountry,
			EnrollmentTTL:    duration(enroll.DefaultTTL),
		},
		Link: linkSettings{TTL: duration(enroll.DefaultTTL)},
		Log:  logSettings{Format: "text", Level: "info"},
	}
}

// configEnv names the config file when --config is not given.
const configEnv = "DENWA_CONFIG"

// duration is a time.Duration written as "90s" in JSON, env and flags.
type duration time.Duration

func (d duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is no duration (like 90s, 5m, 1h30m)", b)
	}
	*d = duration(v)
	return nil
}

// durationFlag makes a *duration a pflag.Value.
type durationFlag struct{ d *duration }

func (f durationFlag) String() string     { return time.Duration(*f.d).String() }
func (f durationFlag) Set(s string) error { return f.d.UnmarshalText([]byte(s)) }
func (f durationFlag) Type() string       { return "duration" }

// secret is a credential read from the environment or a file. Every way of
// printing it shows "[redacted]".
type secret struct {
	value  []byte
	source string // "env DENWA_LINK_KEY", "file /run/secrets/key (sip.password_file from env …)"
}

func (s secret) set() bool                    { return len(s.value) > 0 }
func (s secret) String() string               { return "[redacted]" }
func (s secret) GoString() string             { return "[redacted]" }
func (s secret) Format(f fmt.State, _ rune)   { io.WriteString(f, "[redacted]") }
func (s secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (s secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }

// setting is one leaf of serveConfig, found by reflection.
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

// settingsOf lists the leaves of *c in declaration order.
func settingsOf(c *serveConfig) []setting {
	var out []setting
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			fv := v.Field(i)
			if sn, ok := sf.Tag.Lookup("secret"); ok {
				out = append(out, setting{
					path: prefix + sn, env: envName(prefix + sn), doc: sf.Tag.Get("doc"),
					field: fv, secret: true, filePath: prefix + sn + "_file",
				})
				continue
			}
			name := sf.Tag.Get("json")
			if sf.Type.Kind() == reflect.Struct {
				walk(fv, prefix+name+".")
				continue
			}
			env := sf.Tag.Get("env")
			if env == "" {
				env = envName(prefix + name)
			}
			out = append(out, setting{path: prefix + name, env: env, flag: sf.Tag.Get("flag"), doc: sf.Tag.Get("doc"), field: fv})
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

func envName(path string) string {
	return "DENWA_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// setText sets a leaf from its text form (an environment variable).
func setText(v reflect.Value, s string) error {
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = s
	case *duration:
		return p.UnmarshalText([]byte(s))
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
	default:
		panic("config: no text form for " + v.Type().String())
	}
	return nil
}

// configLoader builds the effective serveConfig from its layers.
type configLoader struct {
	// flags holds the values the flags were parsed into; only those the
	// user changed apply.
	flags   *serveConfig
	flagSet *pflag.FlagSet
	// configPath is --config.
	configPath string
	// getenv reads the environment (os.LookupEnv outside tests).
	getenv func(string) (string, bool)
	// readFile reads the config file and secret files (os.ReadFile).
	readFile func(string) ([]byte, error)
}

// registerFlags adds a flag for every setting that has one to fs, with the
// defaults in its help.
func (l *configLoader) registerFlags(fs *pflag.FlagSet) {
	l.flags = defaultServeConfig()
	l.flagSet = fs
	fs.StringVar(&l.configPath, "config", "", "JSON config file (also "+configEnv+"); see --print-config")
	for _, s := range settingsOf(l.flags) {
		if s.flag == "" {
			continue
		}
		usage := s.doc + " (" + s.path + ", " + s.env + ")"
		switch p := s.field.Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, s.flag, *p, usage)
		case *duration:
			fs.Var(durationFlag{p}, s.flag, usage)
		case *[]string:
			fs.StringArrayVar(p, s.flag, *p, usage+"; repeatable")
		case *int:
			fs.IntVar(p, s.flag, *p, usage)
		case *int64:
			fs.Int64Var(p, s.flag, *p, usage)
		case *uint8:
			fs.Uint8Var(p, s.flag, *p, usage)
		default:
			panic("config: no flag type for " + s.path)
		}
	}
}

// configError is a configuration the command refuses: exit status 2.
func configError(err error) error {
	return &exitError{code: 2, msg: "serve: " + err.Error()}
}

// load returns the effective configuration and where each setting came
// from ("default", "file …", "env …", "flag --…"). Errors name the setting
// and its source, never a secret's value.
func (l *configLoader) load() (*serveConfig, map[string]string, error) {
	c := defaultServeConfig()
	all := settingsOf(c)
	src := make(map[string]string, len(all))
	byPath := make(map[string]setting, len(all))
	for _, s := range all {
		src[s.path] = "default"
		byPath[s.path] = s
	}

	// The file.
	path := l.configPath
	if path == "" {
		path, _ = l.getenv(configEnv)
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
		v, ok := l.getenv(s.env)
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
		fl := settingsOf(l.flags)
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
		if sec.set() {
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
func (l *configLoader) loadSecret(s, file setting, fileSrc string) (secret, error) {
	v, ok := l.getenv(s.env)
	name := file.field.String()
	if ok && v != "" {
		if name != "" && fileSrc == "env "+file.env {
			return secret{}, fmt.Errorf("%s: both %s and %s are set; set one", s.path, s.env, file.env)
		}
		return secret{value: []byte(v), source: "env " + s.env}, nil
	}
	if name == "" {
		return secret{}, nil
	}
	b, err := l.readFile(name)
	if err != nil {
		// The error names the file, not its contents.
		return secret{}, fmt.Errorf("%s (%s): %w", file.path, fileSrc, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return secret{}, fmt.Errorf("%s (%s): %s is empty", file.path, fileSrc, name)
	}
	return secret{value: b, source: "file " + name}, nil
}

// secretKeys are the keys a config file may not hold, with the way to give
// each instead.
var secretKeys = map[string]string{}

func init() {
	for _, s := range settingsOf(defaultServeConfig()) {
		if s.secret {
			secretKeys[s.path] = fmt.Sprintf("set %s, or put it in a file named by %s (or %s_FILE)", s.env, s.filePath, s.env)
		}
	}
}

// loadFile reads the JSON config file at path into c, strictly (unknown keys
// are errors), and returns the setting paths it set. Lines whose first
// non-blank characters are // are comments, so --print-config's output is a
// valid config file.
func (l *configLoader) loadFile(c *serveConfig, path string) (map[string]bool, error) {
	raw, err := l.readFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	data := stripComments(raw)

	// Which keys are present, and no secret among them.
	var tree map[string]json.RawMessage
	if err := json.Unmarshal(data, &tree); err != nil {
		return nil, fmt.Errorf("config file %s: %s", path, jsonErrorAt(data, err))
	}
	present := map[string]bool{}
	for k, v := range tree {
		var sub map[string]json.RawMessage
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) && json.Unmarshal(v, &sub) == nil {
			for sk := range sub {
				p := k + "." + sk
				if how, ok := secretKeys[p]; ok {
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
			return fmt.Sprintf("line %d: %s: want a %s, not a JSON %s", lineAt(data, off), te.Field, typeWord(te.Type), te.Value)
		}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if off < 0 {
		return msg
	}
	return fmt.Sprintf("line %d: %s", lineAt(data, off), msg)
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

func typeWord(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[duration]():
		return "duration string (\"90s\")"
	case reflect.TypeFor[[]string]():
		return "list of strings"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint8:
		return "number"
	}
	return t.String()
}

// serveParams is a checked configuration, turned into what the packages
// take.
type serveParams struct {
	cfg       *serveConfig
	sip       sip.Config // without Logger
	limits    enroll.Limits
	policy    enroll.PhonePolicy
	httpAddr  string
	baseURL   string // "" when derived from the bound address
	linkKey   []byte // nil: a random key per start
	hookURL   string
	hookKey   []byte
	logFormat string
	logLevel  slog.Level
	secrets   []string // for the Service's redaction
}

// check validates c and converts it. The error joins one line per bad
// setting, each naming it.
func (c *serveConfig) check() (*serveParams, error) {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	p := &serveParams{cfg: c}

	// HTTP.
	if _, port, err := net.SplitHostPort(c.HTTP.Addr); err != nil || port == "" {
		bad("http.addr", "%q is no host:port (like 127.0.0.1:8080, or :8080 for every address)", c.HTTP.Addr)
	}
	p.httpAddr = c.HTTP.Addr
	if c.HTTP.BaseURL != "" {
		u, err := url.Parse(c.HTTP.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("http.base_url", "%q is no http(s) URL like https://denwa.example.com", c.HTTP.BaseURL)
		} else {
			p.baseURL = strings.TrimSuffix(c.HTTP.BaseURL, "/")
		}
	}
	if c.HTTP.MaxBodyBytes < 1<<10 || c.HTTP.MaxBodyBytes > 16<<20 {
		bad("http.max_body_bytes", "%d is outside 1024 to 16777216", c.HTTP.MaxBodyBytes)
	}
	if c.HTTP.ShutdownTimeout < 0 {
		bad("http.shutdown_timeout", "negative")
	}
	if c.Store.Path == "" {
		bad("store.path", "empty: name the SQLite file (default ./denwa.db)")
	}

	// SIP.
	s := c.SIP
	if s.Trunk == "" {
		bad("sip.trunk", "required: the PBX or trunk SIP URI (--trunk, DENWA_SIP_TRUNK or sip.trunk in the file)")
	}
	switch strings.ToLower(s.Transport) {
	case "", "udp", "tcp", "tls":
	default:
		bad("sip.transport", "%q: want udp, tcp or tls", s.Transport)
	}
	codecs, err := parseCodecs(s.Codecs)
	if err != nil {
		bad("sip.codecs", "%v", err)
	}
	first, last, err := parsePorts(s.RTPPorts)
	if err != nil {
		bad("sip.rtp_ports", "%v", err)
	}
	plan, err := parseDialPlan(s.DialPlan)
	if err != nil {
		bad("sip.dial_plan", "%v", err)
	}
	if s.RingTimeout <= 0 {
		bad("sip.ring_timeout", "must be positive")
	}
	if s.MaxDuration <= 0 {
		bad("sip.max_duration", "must be positive")
	}
	if s.EventPT < 96 || s.EventPT > 127 {
		bad("sip.event_pt", "%d: want a dynamic payload type, 96 to 127", s.EventPT)
	}
	p.sip = sip.Config{
		Trunk: s.Trunk, Transport: strings.ToLower(s.Transport), Bind: s.Bind, Contact: s.Contact,
		From: s.From, DisplayName: s.DisplayName, AuthUser: s.User, Password: string(s.Password.value),
		OutboundProxy: s.OutboundProxy, DialPlan: plan, RingTimeout: time.Duration(s.RingTimeout),
		MaxDuration: time.Duration(s.MaxDuration), RTPPortFirst: first, RTPPortLast: last,
		Codecs: codecs, EventPT: s.EventPT,
	}

	// Calls and limits.
	if c.Calls.Grace < 0 {
		bad("calls.grace", "negative")
	}
	if c.Calls.Timeout <= 0 {
		bad("calls.timeout", "must be positive")
	} else if c.Calls.Timeout < c.SIP.RingTimeout {
		bad("calls.timeout", "%s is shorter than sip.ring_timeout %s: calls would be cut while ringing", time.Duration(c.Calls.Timeout), time.Duration(c.SIP.RingTimeout))
	}
	if c.Calls.MaxAttempts < 1 || c.Calls.MaxAttempts > 20 {
		bad("calls.max_attempts", "%d is outside 1 to 20", c.Calls.MaxAttempts)
	}
	if len(c.Calls.Node) > 64 {
		bad("calls.node", "longer than 64 characters")
	}
	for _, lim := range []struct {
		key string
		v   int
	}{
		{"limits.per_number", c.Limits.PerNumber}, {"limits.per_user", c.Limits.PerUser},
		{"limits.per_ip", c.Limits.PerIP}, {"limits.global_per_minute", c.Limits.GlobalPerMinute},
	} {
		if lim.v == 0 || lim.v < -1 {
			bad(lim.key, "%d: want a number of calls, or -1 for no limit", lim.v)
		}
	}
	p.limits = enroll.Limits{
		PerNumber: c.Limits.PerNumber, PerUser: c.Limits.PerUser,
		PerIP: c.Limits.PerIP, GlobalPerMinute: c.Limits.GlobalPerMinute,
	}

	// Phone numbers.
	if len(c.Phone.AllowedCountries) == 0 {
		bad("phone.allowed_countries", "empty: name at least one region (JP)")
	}
	p.policy = enroll.PhonePolicy{AllowedRegions: c.Phone.AllowedCountries}
	if err := p.policy.Validate(); err != nil {
		bad("phone.allowed_countries", "%v", err)
	}
	if _, err := enroll.NormalizePhone("0", c.Phone.DefaultCountry); err != nil {
		var pe *enroll.PhoneError
		if errors.As(err, &pe) && pe.Code == enroll.PhoneErrInvalidCountry {
			bad("phone.default_country", "%q is no ISO 3166-1 region", c.Phone.DefaultCountry)
		}
	}
	if c.Phone.EnrollmentTTL < duration(time.Minute) || c.Phone.EnrollmentTTL > duration(24*time.Hour) {
		bad("phone.enrollment_ttl", "%s is outside 1m to 24h", time.Duration(c.Phone.EnrollmentTTL))
	}

	// Links.
	if c.Link.TTL < duration(time.Minute) || c.Link.TTL > duration(7*24*time.Hour) {
		bad("link.ttl", "%s is outside 1m to 168h", time.Duration(c.Link.TTL))
	}
	if c.Link.Key.set() {
		if len(c.Link.Key.value) < enroll.MinLinkKeyLen {
			bad("link.key", "%d bytes (%s); want at least %d (try: openssl rand -base64 48)", len(c.Link.Key.value), c.Link.Key.source, enroll.MinLinkKeyLen)
		}
		p.linkKey = c.Link.Key.value
	}

	// Webhooks.
	if c.Webhook.URL != "" {
		u, err := url.Parse(c.Webhook.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("webhook.url", "%q is no http(s) URL", c.Webhook.URL)
		}
		switch {
		case !c.Webhook.Secret.set():
			bad("webhook.secret", "required with webhook.url: set DENWA_WEBHOOK_SECRET or webhook.secret_file")
		case len(c.Webhook.Secret.value) < 32:
			bad("webhook.secret", "%d bytes (%s); want at least 32", len(c.Webhook.Secret.value), c.Webhook.Secret.source)
		}
		p.hookURL, p.hookKey = c.Webhook.URL, c.Webhook.Secret.value
	}

	// Logging.
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	p.logFormat = c.Log.Format
	if err := p.logLevel.UnmarshalText([]byte(c.Log.Level)); err != nil {
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}

	for _, sec := range []secret{c.SIP.Password, c.Link.Key, c.Webhook.Secret} {
		if sec.set() {
			p.secrets = append(p.secrets, string(sec.value))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// printConfig writes the effective configuration as a commented JSON file
// that loadFile reads back: each key with what it means, its environment
// variable and flag, its default and where its value came from. Secrets
// appear only as comments saying whether they are set and from where.
func printConfig(w io.Writer, c *serveConfig, src map[string]string) error {
	defs := settingsOf(defaultServeConfig())
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
	all := settingsOf(c)
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
				if sec := s.field.Interface().(secret); sec.set() {
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
	write("", "", all)
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

// lookupEnv is the real environment.
func lookupEnv(k string) (string, bool) { return os.LookupEnv(k) }
