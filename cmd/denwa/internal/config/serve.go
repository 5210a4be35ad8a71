package config

import (
	"net/url"
	"strings"
	"time"

	"denwa/enroll"
)

// FileEnv names the config file when --config is not given.
const FileEnv = "DENWA_CONFIG"

// Serve is everything `denwa serve` can be told, in the shape of its JSON
// config file. Each leaf setting is a field whose tags say:
//
//	json  its key in the file (sections nest: "sip" → "trunk" is sip.trunk;
//	      an embedded struct without a json tag adds its keys to its parent)
//	env   its environment variable; empty tag: DENWA_ + the key path in upper
//	      case with dots as underscores (sip.ring_timeout → DENWA_SIP_RING_TIMEOUT)
//	flag  its command-line flag, if it has one
//	doc   what --print-config and the flag's help say about it
//
// Secrets (fields of type Secret, tagged secret:"name") are never read from
// the file or flags: only from their environment variable
// (DENWA_SIP_PASSWORD) or from a file named by the sibling "<name>_file"
// setting (sip.password_file, which is also DENWA_SIP_PASSWORD_FILE).
type Serve struct {
	HTTP    HTTP   `json:"http"`
	Store   Store  `json:"store"`
	SIP     SIP    `json:"sip"`
	Prompts string `json:"prompts" flag:"prompts" doc:"directory of the operator's own prompt recordings (NAME.wav, 8 kHz mono); empty: the shipped Japanese prompts"`
	// Challenge mode and the prompts' language.
	PromptLanguage  string  `json:"prompt_language" flag:"prompt-language" doc:"language of the prompts: ja or en (the English ones are en-NAME.wav)"`
	ChallengeDigits int     `json:"challenge_digits" flag:"challenge-digits" doc:"challenge mode: each call reads out a random code of this many digits (3-6) and asks for it, then #, which a voicemail greeting cannot replay; 0: off (# alone verifies)"`
	Calls           Calls   `json:"calls"`
	Limits          Limits  `json:"limits"`
	Phone           Phone   `json:"phone"`
	Link            Link    `json:"link"`
	Webhook         Webhook `json:"webhook"`
	Log             Log     `json:"log"`
}

// HTTP is the API's listener, and the operators' one.
type HTTP struct {
	Addr            string   `json:"addr" flag:"http" doc:"address the HTTP API listens on, host:port (port 0: any free port)"`
	BaseURL         string   `json:"base_url" flag:"base-url" doc:"public base URL of the API, put in enrollment links (https://denwa.example.com); empty: http://<addr>; https also turns on HSTS and Secure cookies"`
	MaxBodyBytes    int64    `json:"max_body_bytes" doc:"largest request body accepted, in bytes"`
	ReadTimeout     Duration `json:"read_timeout" doc:"longest a client may take to send a request's headers, and again its body; a slower body gets 408 and the connection is closed"`
	MaxConns        int      `json:"max_conns" doc:"connections the HTTP listener holds at once; more are answered 503 and closed"`
	TrustedProxies  []string `json:"trusted_proxies" flag:"trusted-proxy" doc:"networks (CIDR) of the reverse proxies in front of denwa; only a connection from one of them may name its client in X-Forwarded-For (the rightmost address that is no trusted proxy); empty: the connection's address is the client"`
	ShutdownTimeout Duration `json:"shutdown_timeout" doc:"on shutdown, how long requests in flight may take before their connections are closed"`
	OpsAddr         string   `json:"ops_addr" flag:"ops-http" doc:"address of the operators' listener serving /metrics and the operators' console (/console/, signed in with an admin-scoped API key), host:port; a loopback address unless ops_token is set (put a TLS proxy in front of a non-loopback one: the console's sign-in carries an admin key); empty: neither"`
	OpsToken        Secret   `json:"-" secret:"ops_token" doc:"bearer token /metrics requires (Authorization: Bearer <token>), at least 32 bytes; required when ops_addr is not loopback"`
	OpsTokenFile    string   `json:"ops_token_file" doc:"file holding the ops token (instead of DENWA_HTTP_OPS_TOKEN)"`
}

// Store is the database.
type Store struct {
	Path string `json:"path" flag:"store" doc:"the one source of truth: a SQLite database file (created if missing), or a PostgreSQL URL for several nodes, postgres://user@host:5432/denwa?sslmode=verify-full&pool_max_conns=10 (the password from PGPASSWORD or PGPASSFILE, never in the URL; needs calls.node and link.key)"`
}

// Calls bounds the verification calls.
type Calls struct {
	Grace       Duration `json:"grace" flag:"shutdown-grace" doc:"on shutdown, how long calls in progress may go on before they are cut (recorded as failed)"`
	Timeout     Duration `json:"timeout" doc:"longest verification call, from dialling to the end of the dialogue"`
	MaxAttempts int      `json:"max_attempts" doc:"calls one enrollment may place"`
	Node        string   `json:"node" flag:"node" doc:"this node's name among nodes sharing a store (each needs its own, kept across restarts); required with PostgreSQL; empty: a single node"`
	NodeLease   Duration `json:"node_lease" flag:"node-lease" doc:"how long a named node's lease in the store lasts without renewal (renewed every third of it): after a node dies, another ends its calls in progress (failed, node lost, retryable) within about this"`
}

// Limits are the call rate limits.
type Limits struct {
	PerNumber       int `json:"per_number" doc:"calls to one number per hour (-1: no limit)"`
	PerUser         int `json:"per_user" doc:"calls for one user per hour (-1: no limit)"`
	PerIP           int `json:"per_ip" doc:"calls for enrollments requested from one client IP per hour (-1: no limit)"`
	GlobalPerMinute int `json:"global_per_minute" doc:"calls per minute in all (-1: no limit)"`
}

// Phone is the phone-number policy.
type Phone struct {
	AllowedCountries []string `json:"allowed_countries" flag:"allowed-countries" doc:"ISO 3166-1 regions whose numbers may be called"`
	DefaultCountry   string   `json:"default_country" doc:"region assumed for numbers typed without a country"`
	EnrollmentTTL    Duration `json:"enrollment_ttl" doc:"how long a new enrollment has to be verified"`
}

// Link is the signing of one-time enrollment links.
type Link struct {
	TTL     Duration `json:"ttl" doc:"how long a one-time enrollment link works"`
	Key     Secret   `json:"-" secret:"key" doc:"HMAC key signing enrollment links, at least 32 bytes; unset: a random key per start (links do not survive a restart)"`
	KeyFile string   `json:"key_file" doc:"file holding the link signing key (instead of DENWA_LINK_KEY)"`
}

// Webhook is where outcomes are posted.
type Webhook struct {
	URL        string `json:"url" flag:"webhook-url" doc:"URL the signed webhooks (verified, failed, fraud-reported) are posted to; empty: none"`
	Secret     Secret `json:"-" secret:"secret" doc:"HMAC-SHA256 webhook signing secret, at least 32 bytes; required with a URL"`
	SecretFile string `json:"secret_file" doc:"file holding the webhook secret (instead of DENWA_WEBHOOK_SECRET)"`
}

// Log is the service's log.
type Log struct {
	Format string `json:"format" flag:"log-format" doc:"text or json (to stderr)"`
	Level  string `json:"level" flag:"log-level" doc:"debug, info, warn or error"`
}

// DefaultServe returns the defaults: a local single node.
func DefaultServe() *Serve {
	return &Serve{
		HTTP: HTTP{
			Addr:            "127.0.0.1:8080",
			MaxBodyBytes:    64 << 10,
			ReadTimeout:     Duration(10 * time.Second),
			MaxConns:        1024,
			TrustedProxies:  []string{},
			ShutdownTimeout: Duration(10 * time.Second),
			OpsAddr:         "127.0.0.1:9090",
		},
		Store: Store{Path: DefaultStorePath},
		SIP:   DefaultSIP(),
		Calls: Calls{
			Grace:       Duration(90 * time.Second),
			Timeout:     Duration(enroll.DefaultCallTimeout),
			MaxAttempts: enroll.DefaultMaxAttempts,
			NodeLease:   Duration(enroll.DefaultNodeLease),
		},
		Limits: Limits{
			PerNumber:       enroll.DefaultCallsPerNumber,
			PerUser:         enroll.DefaultCallsPerUser,
			PerIP:           enroll.DefaultCallsPerIP,
			GlobalPerMinute: enroll.DefaultCallsPerMinuteAll,
		},
		Phone: Phone{
			AllowedCountries: []string{"JP"},
			DefaultCountry:   enroll.DefaultPhoneCountry,
			EnrollmentTTL:    Duration(enroll.DefaultTTL),
		},
		Link:           Link{TTL: Duration(enroll.DefaultTTL)},
		Log:            Log{Format: "text", Level: "info"},
		PromptLanguage: "ja",
	}
}

// DefaultStorePath is the SQLite file serve and apikey use when told none.
const DefaultStorePath = "./denwa.db"

// PostgresURL reports whether the store setting names a PostgreSQL
// database (postgres:// or postgresql://) rather than a SQLite file.
func PostgresURL(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// RedactStore returns the store setting fit for a log or an error: a
// URL's password, if any, replaced by xxxxx.
func RedactStore(store string) string {
	if !strings.Contains(store, "://") {
		return store
	}
	u, err := url.Parse(store)
	if err != nil {
		return "(an unreadable URL)"
	}
	return u.Redacted()
}
