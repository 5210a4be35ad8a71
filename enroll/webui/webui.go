package webui

import (
	"crypto/rand"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"denwa/enroll"
	"denwa/enroll/httpx"
)

// Defaults of Config.
const (
	DefaultSessionTTL      = 30 * time.Minute
	DefaultHeartbeat       = 15 * time.Second
	DefaultAppPasswordName = "denwa web"
)

// DefaultCountries are the countries offered in step 1's select, in order.
var defaultCountries = []string{"JP", "US", "GB", "KR", "TW", "CN", "SG", "AU"}

// DefaultCountries returns the countries step 1 offers when
// Config.Countries is empty. The slice is new.
func DefaultCountries() []string { return append([]string(nil), defaultCountries...) }

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a Server. Service and Links are required; every
// other zero value means the default named on the field.
type Config struct {
	// Service creates enrollments (reading their numbers and enforcing
	// the number policy: the screens only translate its errors), places
	// their calls, pushes their changes, and records used links and app
	// passwords. Its DefaultCountry is the country selected in step 1.
	// Required.
	Service *enroll.Service
	// Links verifies the enrollment link tokens. Required.
	Links *enroll.LinkSigner

	// Countries are the ISO 3166-1 regions step 1 offers (each with its
	// calling code), from those of DefaultCountries. Empty means
	// DefaultCountries(); the Service's DefaultCountry is put first.
	Countries []string

	// SessionKey keys the HMAC of session cookies and CSRF tokens: at
	// least 32 random bytes, the same on every node behind one name. Nil
	// means a random key for this process only (one node; sessions end
	// with a restart).
	SessionKey []byte
	// SessionTTL is how long a browser may go on after it opened its link.
	// Zero means 30 minutes (DefaultSessionTTL).
	SessionTTL time.Duration
	// SecureCookies sets the Secure attribute; set it when served over
	// HTTPS.
	SecureCookies bool
	// Heartbeat is how often an idle event stream sends a comment. Zero
	// means 15 s.
	Heartbeat time.Duration
	// AppPasswordName labels the app passwords issued here. Zero means
	// "denwa web".
	AppPasswordName string

	// OnLimit, if set, is called for each call a limit refused (for
	// metrics).
	OnLimit func(*enroll.LimitError)
	// Logger receives one record per request (method, route, status,
	// request ID; never the token) and the causes of errors. Nil means no
	// logging.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Server serves the screens. It is safe for concurrent use.
type Server struct {
	cfg       Config
	svc       *enroll.Service
	key       []byte
	log       *slog.Logger
	pages     map[string]*template.Template
	handler   http.Handler
	countries []string // countries[0] is the default

	done      chan struct{}
	closeOnce sync.Once
}

// New checks cfg, fills in its defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Service == nil:
		return nil, fmt.Errorf("webui: %w: Service is required", enroll.ErrInvalidConfig)
	case cfg.Links == nil:
		return nil, fmt.Errorf("webui: %w: Links is required", enroll.ErrInvalidConfig)
	case cfg.SessionTTL < 0, cfg.Heartbeat < 0:
		return nil, fmt.Errorf("webui: %w: SessionTTL and Heartbeat must not be negative", enroll.ErrInvalidConfig)
	case cfg.SessionKey != nil && len(cfg.SessionKey) < 32:
		return nil, fmt.Errorf("webui: %w: SessionKey must be at least 32 bytes", enroll.ErrInvalidConfig)
	}
	countries := cfg.Countries
	if len(countries) == 0 {
		countries = DefaultCountries()
	}
	var cs []string
	seen := map[string]bool{}
	for _, c := range append([]string{cfg.Service.Config().DefaultCountry}, countries...) {
		c = strings.ToUpper(c)
		if seen[c] {
			continue
		}
		if callingCode(c) == 0 {
			return nil, fmt.Errorf("webui: %w: country %q is no region", enroll.ErrInvalidConfig, c)
		}
		seen[c] = true
		cs = append(cs, c)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.AppPasswordName == "" {
		cfg.AppPasswordName = DefaultAppPasswordName
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := cfg.SessionKey
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key)
	} else {
		key = append([]byte(nil), key...)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, svc: cfg.Service, key: key, log: log, pages: pages,
		countries: cs, done: make(chan struct{})}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the handler of /e/…, /enroll and /static/…; other paths
// get 404.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends the event streams in progress, so that http.Server.Shutdown
// need not wait for them; register it with http.Server.RegisterOnShutdown.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.done) }) }

func (s *Server) now() time.Time { return s.cfg.Now() }

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"printf": fmt.Sprintf,
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("webui: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"start", "step1", "step2", "failed", "completed", "message", "password"} {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("webui: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticCache(files)))
	mux.HandleFunc("GET /enroll", func(w http.ResponseWriter, r *http.Request) {
		t := pickLang(r).msgs()
		s.render(w, r, http.StatusOK, "message", &page{T: t, Heading: t.ErrTitle, Body: t.LinkInvalid, Script: "enroll.js"})
	})
	mux.Handle("GET /e/{token}", s.handle(s.getPage))
	mux.Handle("POST /e/{token}/start", s.handle(s.postStart))
	mux.Handle("POST /e/{token}", s.handle(s.postNumber))
	mux.Handle("POST /e/{token}/call", s.handle(s.postCall))
	mux.Handle("POST /e/{token}/password", s.handle(s.postPassword))
	mux.Handle("GET /e/{token}/events", s.handle(s.events))
	return s.withRequest(httpx.SecurityHeaders(mux))
}

func staticCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// callingCode returns the calling code of a region step 1 can offer
// ("JP" → 81), 0 for a region it cannot.
func callingCode(region string) int { return countryCodes[region] }

// countryCodes are the regions step 1 can offer, with their calling codes.
var countryCodes = map[string]int{
	"JP": 81, "US": 1, "GB": 44, "KR": 82, "TW": 886, "CN": 86, "SG": 65, "AU": 61,
}

// clientIP is the host of r.RemoteAddr: what the per-IP call limit keys
// on. (Behind a reverse proxy, whoever mounts the handler sets RemoteAddr
// to the client's address; cmd/denwa takes it from X-Forwarded-For of
// trusted proxies only.)
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeJSON writes v with status; errors writing are the client's.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
