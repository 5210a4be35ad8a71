package console

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"denwa/enroll"
	"denwa/enroll/httpx"
)

// Prefix is the path the console is served under: its pages are
// Prefix+"/…", and its cookies are scoped to it.
const Prefix = "/console"

// Defaults of Config.
const (
	DefaultSessionTTL     = 8 * time.Hour
	DefaultSignInFailures = 10
	DefaultSignInWindow   = 15 * time.Minute
	DefaultSignInDelay    = 250 * time.Millisecond
)

// MaxBodyBytes bounds every request body (the forms are a few hundred
// bytes); the rest of a larger one is not read.
const MaxBodyBytes = 16 << 10

// maxQueryBytes bounds the query string of a request: longer ones get 414
// before anything is parsed.
const maxQueryBytes = 2048

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a Server. Service is required; every other zero
// value means the default named on the field.
type Config struct {
	// Service is where everything shown comes from and every action goes:
	// the API keys that sign in, the enrollments and their audit trails,
	// the blocks, the webhooks. Required.
	Service *enroll.Service

	// SessionKey keys the sealing of session cookies and the CSRF
	// tokens: at least 32 random bytes, the same on every node, so that a
	// session opened on one node works on all. Nil means a random key for
	// this process only (sessions end with a restart and work on this
	// node only).
	SessionKey []byte
	// SessionTTL is how long a session lasts after sign-in, whatever is
	// done meanwhile. Zero means 8 hours (DefaultSessionTTL).
	SessionTTL time.Duration
	// SecureCookies sets the Secure attribute of every cookie; set it when
	// the console is reached over HTTPS (cookies of a request that came
	// over TLS are Secure anyway).
	SecureCookies bool

	// SignInFailures is how many failed sign-ins a client address may make
	// per SignInWindow, in this process; more get 429 until the window
	// ends. Zero means 10 (DefaultSignInFailures).
	SignInFailures int
	// SignInWindow is the window of SignInFailures. Zero means 15 minutes
	// (DefaultSignInWindow).
	SignInWindow time.Duration
	// SignInDelay is the least time a sign-in takes to answer, right or
	// wrong, so that how long it took tells nothing of why it failed. Zero
	// means 250 ms (DefaultSignInDelay); negative means none (tests).
	SignInDelay time.Duration

	// Location is the time zone times are shown in. Nil means time.Local.
	Location *time.Location
	// Logger receives one record per request (method, route, status,
	// request ID, who) and what operators did. Nil means no logging.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Server serves the console. It is safe for concurrent use.
type Server struct {
	cfg     Config
	svc     *enroll.Service
	admin   *enroll.Admin
	keys    keys
	fails   *failures
	log     *slog.Logger
	pages   map[string]*template.Template
	handler http.Handler
}

// New checks cfg, fills in its defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Service == nil:
		return nil, fmt.Errorf("console: %w: Service is required", enroll.ErrInvalidConfig)
	case cfg.SessionTTL < 0, cfg.SignInWindow < 0, cfg.SignInFailures < 0:
		return nil, fmt.Errorf("console: %w: SessionTTL, SignInWindow and SignInFailures must not be negative", enroll.ErrInvalidConfig)
	case cfg.SessionKey != nil && len(cfg.SessionKey) < 32:
		return nil, fmt.Errorf("console: %w: SessionKey must be at least 32 bytes", enroll.ErrInvalidConfig)
	}
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, DefaultSessionTTL)
	cfg.SignInFailures = cmp.Or(cfg.SignInFailures, DefaultSignInFailures)
	cfg.SignInWindow = cmp.Or(cfg.SignInWindow, DefaultSignInWindow)
	cfg.SignInDelay = cmp.Or(cfg.SignInDelay, DefaultSignInDelay)
	cfg.Location = cmp.Or(cfg.Location, time.Local)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	secret := cfg.SessionKey
	if secret == nil { // one process: sessions end with it
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, svc: cfg.Service, admin: cfg.Service.Admin(), keys: deriveKeys(secret), log: log, pages: pages,
		fails: newFailures(cfg.SignInFailures, cfg.SignInWindow)}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the handler of Prefix+"/…"; other paths get 404.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) now() time.Time { return s.cfg.Now() }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"/static/", http.FileServerFS(static))
	mux.Handle("GET "+Prefix+"/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET "+Prefix, http.RedirectHandler(Prefix+"/", http.StatusSeeOther))
	mux.Handle("GET "+Prefix+"/signin", s.handle(s.getSignIn, public))
	mux.Handle("POST "+Prefix+"/signin", s.handle(s.postSignIn, public))
	mux.Handle("POST "+Prefix+"/signout", s.handle(s.postSignOut, action))
	mux.Handle("GET "+Prefix+"/{$}", s.handle(s.getOverview, view))
	for pattern, f := range s.pageRoutes() {
		mux.Handle(pattern, f)
	}
	return s.withRequest(httpx.SecurityHeaders(mux))
}

func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, path := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "templates/"), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, path)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

// HTTPError is a handler's failure: Code is the status, Msg the text shown
// (already in the page's language), Err the cause that is logged and
// never shown.
type HTTPError = httpx.Error

// req is one request's view: its language, its request ID and, on the
// routes that need one, the live session.
type req struct {
	r    *http.Request
	w    http.ResponseWriter
	t    *msgs
	id   string
	sess session // zero on public routes
}

// origin is who acts, for the audit trail: the signed-in key.
func (q *req) origin() enroll.Origin {
	return enroll.Origin{Actor: enroll.ActorForKey(q.sess.Name), RequestID: q.id}
}

// access is what a route needs.
type access int

const (
	public access = iota // anyone: the sign-in form
	view                 // a live session (GET): without one, the sign-in page
	action               // a live session and the CSRF token (POST)
)

type ctxKey struct{}

// withRequest bounds the request (query string, body), gives it an ID
// (kept from X-Request-ID when plausible, sent back, logged) and logs one
// record once it is served.
func (s *Server) withRequest(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !httpx.ValidRequestID(id) {
			id = httpx.NewRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		sw := httpx.NewStatusRecorder(w)
		began := time.Now()
		if len(r.URL.RawQuery) > maxQueryBytes {
			http.Error(sw, "request URI too long", http.StatusRequestURITooLong)
		} else {
			r.Body = http.MaxBytesReader(sw, r.Body, MaxBodyBytes)
			h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
		}
		route := r.Pattern
		if route == "" {
			route = "(none)"
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "console request",
			slog.String("method", r.Method), slog.String("route", route), slog.Int("status", sw.Status()),
			slog.Int64("duration_ms", time.Since(began).Milliseconds()), slog.String("request_id", id))
	})
}

// handle adapts a page handler: it picks the language, loads the session
// the route needs (a GET without one goes to the sign-in page; a POST
// without one, or without its CSRF token, is refused), and turns an
// error into a page: an *HTTPError with its message, anything else 500.
// The cause is logged, never shown.
func (s *Server) handle(f func(q *req) error, need access) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := httpx.PickLanguage(r, langCookie)
		if v := r.URL.Query().Get("lang"); v == lang {
			http.SetCookie(w, s.cookie(r, langCookie, v, 86400*365))
		}
		id, _ := r.Context().Value(ctxKey{}).(string)
		q := &req{r: r, w: w, t: messages(lang), id: id}
		err := s.authorize(q, need)
		if err == nil {
			err = f(q)
		}
		if err == nil || errors.Is(err, errAnswered) {
			return
		}
		he := httpx.ErrorOf(err, q.t.Internal)
		s.log.LogAttrs(r.Context(), he.Level(), "console error", slog.String("route", r.Pattern), slog.Int("status", he.Code),
			slog.String("request_id", q.id), slog.String("error", fmt.Sprint(he.Err)))
		p := s.newPage(q, q.t.ErrTitle)
		p.Message = he.Msg
		s.render(q, he.Code, "message", p)
	})
}

// authorize loads what the route needs. A GET without a live session is
// sent to the sign-in page, which leads back to it (errAnswered: the
// answer is written); anything else without one gets 403.
func (s *Server) authorize(q *req, need access) error {
	if need == public {
		return nil
	}
	err := s.loadSession(q)
	switch {
	case errors.Is(err, errNoSession) || errors.Is(err, errNotAdmin):
		if need == view {
			http.Redirect(q.w, q.r, Prefix+"/signin?next="+url.QueryEscape(q.r.URL.RequestURI()), http.StatusSeeOther)
			return errAnswered
		}
		return &HTTPError{Code: http.StatusForbidden, Msg: q.t.SignInAgain, Err: err}
	case err != nil:
		return &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
	}
	if need == action && !s.checkCSRF(q) {
		return &HTTPError{Code: http.StatusForbidden, Msg: q.t.Forbidden, Err: errors.New("CSRF check failed")}
	}
	return nil
}

// errAnswered is what authorize returns when it has answered the request
// itself; handle writes nothing more.
var errAnswered = errors.New("console: answered")

// render executes the named page into a buffer first, so a template error
// never leaves half a page.
func (s *Server) render(q *req, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.Error("console template", "page", name, "error", err)
		http.Error(q.w, "internal error", http.StatusInternalServerError)
		return
	}
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.WriteHeader(status)
	q.w.Write(buf.Bytes())
}

// clientAddr is the host of r.RemoteAddr: what the sign-in limit keys on
// (cmd/denwa sets it from X-Forwarded-For of trusted proxies only).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
