package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"denwa/audio"
	"denwa/enroll"
	"denwa/sip"
)

// Params is a checked Serve configuration, turned into what the packages
// take.
type Params struct {
	Config    *Serve
	SIP       sip.Config // without Logger
	Limits    enroll.Limits
	Policy    enroll.PhonePolicy
	HTTPAddr  string
	BaseURL   string // "" when derived from the bound address
	LinkKey   []byte // nil: a random key per start
	HookURL   string
	HookKey   []byte
	LogFormat string
	LogLevel  slog.Level
	Secrets   []string // for the Service's redaction

	// TrustedProxies are the networks whose connections may name their
	// client in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	OpsToken       []byte // nil: /metrics needs no token (loopback only)
}

// Check validates c and converts it. The error joins one line per bad
// setting, each naming it by its path in the config file.
func (c *Serve) Check() (*Params, error) {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	p := &Params{Config: c}

	// HTTP.
	if _, port, err := net.SplitHostPort(c.HTTP.Addr); err != nil || port == "" {
		bad("http.addr", "%q is no host:port (like 127.0.0.1:8080, or :8080 for every address)", c.HTTP.Addr)
	}
	p.HTTPAddr = c.HTTP.Addr
	if c.HTTP.BaseURL != "" {
		u, err := url.Parse(c.HTTP.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("http.base_url", "%q is no http(s) URL like https://denwa.example.com", c.HTTP.BaseURL)
		} else {
			p.BaseURL = strings.TrimSuffix(c.HTTP.BaseURL, "/")
		}
	}
	if c.HTTP.MaxBodyBytes < 1<<10 || c.HTTP.MaxBodyBytes > 16<<20 {
		bad("http.max_body_bytes", "%d is outside 1024 to 16777216", c.HTTP.MaxBodyBytes)
	}
	if c.HTTP.ShutdownTimeout < 0 {
		bad("http.shutdown_timeout", "negative")
	}
	if c.HTTP.ReadTimeout < Duration(100*time.Millisecond) || c.HTTP.ReadTimeout > Duration(5*time.Minute) {
		bad("http.read_timeout", "%s is outside 100ms to 5m", time.Duration(c.HTTP.ReadTimeout))
	}
	if c.HTTP.MaxConns < 1 || c.HTTP.MaxConns > 1<<20 {
		bad("http.max_conns", "%d is outside 1 to 1048576", c.HTTP.MaxConns)
	}
	if nets, err := parseNetworks(c.HTTP.TrustedProxies); err != nil {
		bad("http.trusted_proxies", "%v", err)
	} else {
		p.TrustedProxies = nets
	}
	if c.HTTP.OpsToken.IsSet() {
		if len(c.HTTP.OpsToken.value) < 32 {
			bad("http.ops_token", "%d bytes (%s); want at least 32", len(c.HTTP.OpsToken.value), c.HTTP.OpsToken.source)
		}
		p.OpsToken = c.HTTP.OpsToken.value
	}
	if c.HTTP.OpsAddr != "" {
		host, port, err := net.SplitHostPort(c.HTTP.OpsAddr)
		switch {
		case err != nil || port == "":
			bad("http.ops_addr", "%q is no host:port (like 127.0.0.1:9090)", c.HTTP.OpsAddr)
		case !c.HTTP.OpsToken.IsSet() && !loopback(host):
			bad("http.ops_addr", "%q is not a loopback address: /metrics there needs http.ops_token (DENWA_HTTP_OPS_TOKEN)", c.HTTP.OpsAddr)
		}
	}
	pg := PostgresURL(c.Store.Path)
	switch {
	case c.Store.Path == "":
		bad("store.path", "empty: name the SQLite file (default %s) or a postgres:// URL", DefaultStorePath)
	case pg:
		u, err := url.Parse(c.Store.Path)
		switch {
		case err != nil:
			bad("store.path", "%s is no PostgreSQL URL like postgres://denwa@db.example.com:5432/denwa?sslmode=verify-full", RedactStore(c.Store.Path))
		case u.User != nil:
			if _, ok := u.User.Password(); ok {
				bad("store.path", "%s holds a password: give it in PGPASSWORD or a password file (PGPASSFILE) instead, where --print-config and the logs do not show it", RedactStore(c.Store.Path))
			}
		}
	case strings.Contains(c.Store.Path, "://"):
		bad("store.path", "%s: a SQLite file path, or a postgres:// or postgresql:// URL", RedactStore(c.Store.Path))
	}

	// SIP.
	sc, err := c.SIP.dialerConfig(func(path, _ string) string { return "sip." + path })
	if err != nil {
		errs = append(errs, err)
	}
	p.SIP = sc

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
	if pg && c.Calls.Node == "" {
		bad("calls.node", "required with a PostgreSQL store: each node needs a name of its own, kept across restarts (--node)")
	}
	if c.Calls.NodeLease < Duration(time.Second) || c.Calls.NodeLease > Duration(5*time.Minute) {
		bad("calls.node_lease", "%s is outside 1s to 5m", time.Duration(c.Calls.NodeLease))
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
	p.Limits = enroll.Limits{
		PerNumber: c.Limits.PerNumber, PerUser: c.Limits.PerUser,
		PerIP: c.Limits.PerIP, GlobalPerMinute: c.Limits.GlobalPerMinute,
	}

	// Phone numbers.
	if len(c.Phone.AllowedCountries) == 0 {
		bad("phone.allowed_countries", "empty: name at least one region (JP)")
	}
	p.Policy = enroll.PhonePolicy{AllowedRegions: c.Phone.AllowedCountries}
	if err := p.Policy.Validate(); err != nil {
		bad("phone.allowed_countries", "%v", err)
	}
	if _, err := enroll.NormalizePhone("0", c.Phone.DefaultCountry); err != nil {
		var pe *enroll.PhoneError
		if errors.As(err, &pe) && pe.Code == enroll.PhoneErrInvalidCountry {
			bad("phone.default_country", "%q is no ISO 3166-1 region", c.Phone.DefaultCountry)
		}
	}
	if c.Phone.EnrollmentTTL < Duration(time.Minute) || c.Phone.EnrollmentTTL > Duration(24*time.Hour) {
		bad("phone.enrollment_ttl", "%s is outside 1m to 24h", time.Duration(c.Phone.EnrollmentTTL))
	}

	// Links.
	if c.Link.TTL < Duration(time.Minute) || c.Link.TTL > Duration(7*24*time.Hour) {
		bad("link.ttl", "%s is outside 1m to 168h", time.Duration(c.Link.TTL))
	}
	if c.Link.Key.IsSet() {
		if len(c.Link.Key.value) < enroll.MinLinkKeyLen {
			bad("link.key", "%d bytes (%s); want at least %d (try: openssl rand -base64 48)", len(c.Link.Key.value), c.Link.Key.source, enroll.MinLinkKeyLen)
		}
		p.LinkKey = c.Link.Key.value
	} else if pg {
		bad("link.key", "required with a PostgreSQL store: every node must sign and check the enrollment links (and the screens' sessions) with the same key; set DENWA_LINK_KEY or link.key_file (try: openssl rand -base64 48)")
	}

	// Webhooks.
	if c.Webhook.URL != "" {
		u, err := url.Parse(c.Webhook.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("webhook.url", "%q is no http(s) URL", c.Webhook.URL)
		}
		switch {
		case !c.Webhook.Secret.IsSet():
			bad("webhook.secret", "required with webhook.url: set DENWA_WEBHOOK_SECRET or webhook.secret_file")
		case len(c.Webhook.Secret.value) < 32:
			bad("webhook.secret", "%d bytes (%s); want at least 32", len(c.Webhook.Secret.value), c.Webhook.Secret.source)
		}
		p.HookURL, p.HookKey = c.Webhook.URL, c.Webhook.Secret.value
	}

	// The dialogue: enroll owns the rule on the code's length, audio the
	// languages.
	if _, err := enroll.NewDialogue(enroll.DialogueConfig{ChallengeDigits: c.ChallengeDigits}); err != nil {
		bad("challenge_digits", "%d: want 0 (off) or %d to %d", c.ChallengeDigits, enroll.MinChallengeDigits, enroll.MaxChallengeDigits)
	}
	if audio.LangName(c.PromptLanguage, "greeting") == "" {
		bad("prompt_language", "%q: want %s or %s", c.PromptLanguage, audio.LangJapanese, audio.LangEnglish)
	}

	// Logging.
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	p.LogFormat = c.Log.Format
	if err := p.LogLevel.UnmarshalText([]byte(c.Log.Level)); err != nil {
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}

	for _, sec := range []Secret{c.SIP.Password, c.Link.Key, c.Webhook.Secret, c.HTTP.OpsToken} {
		if sec.IsSet() {
			p.Secrets = append(p.Secrets, string(sec.value))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// loopback reports whether host names the loopback interface only
// (127.0.0.1, ::1, localhost); an empty host is every interface.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
