package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"denwa/enroll"
	"denwa/enroll/httpx"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes   = 64 << 10
	DefaultHeartbeat      = 15 * time.Second
	MaxRequestIDLen       = 64
	requestIDHeader       = "X-Request-ID"
	maxAppPasswordNameLen = 100
	maxUserIDLen          = 256
)

// Config configures a Server. Service and Links are required; every
// other zero value means the default named on the field.
type Config struct {
	// Service creates enrollments (reading their numbers and enforcing
	// the number policy: the API only translates its errors), places
	// their calls, pushes their changes, and keeps the API keys, links
	// and app passwords. Required.
	Service *enroll.Service
	// Links signs and verifies the enrollment link tokens. Required.
	Links *enroll.LinkSigner

	// LinkTTL is how long an enrollment link works. Zero means the
	// Service's TTL plus its CompleteWindow: as long as the enrollment
	// can still be finished.
	LinkTTL time.Duration
	// BaseURL is where the web UI is reached ("https://denwa.example.com");
	// the links returned are BaseURL + "/enroll#" + token (a fragment, so
	// the token never reaches a server's access log). Empty: only the
	// token is returned.
	BaseURL string

	// MaxBodyBytes bounds a request body; larger ones get 413. Zero
	// means 64 KiB (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Heartbeat is how often an idle event stream sends a comment line.
	// Zero means 15 s (DefaultHeartbeat).
	Heartbeat time.Duration
	// MaxConcurrentChecks bounds the app-password hashes computed at
	// once (each holds enroll.AppPasswordMemoryKiB). Zero means the
	// number of CPUs.
	MaxConcurrentChecks int

	// Logger receives one record per request (method, route, status,
	// request ID, actor; never a URL, a header or a body) and the causes
	// of errors. Nil means no logging.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Server is the HTTP API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	svc     *enroll.Service
	admin   *enroll.Admin // the operators' view of svc's store (admin.go)
	log     *slog.Logger
	handler http.Handler
	routes  []route
	checks  chan struct{} // semaphore of app-password checks

	done      chan struct{} // closed by Close: streams end
	closeOnce sync.Once
	streams   atomic.Int64 // event streams in progress
}

// New checks cfg, fills in its defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Service == nil:
		return nil, fmt.Errorf("httpapi: %w: Service is required", enroll.ErrInvalidConfig)
	case cfg.Links == nil:
		return nil, fmt.Errorf("httpapi: %w: Links is required", enroll.ErrInvalidConfig)
	case cfg.LinkTTL < 0, cfg.MaxBodyBytes < 0, cfg.Heartbeat < 0, cfg.MaxConcurrentChecks < 0:
		return nil, fmt.Errorf("httpapi: %w: LinkTTL, MaxBodyBytes, Heartbeat and MaxConcurrentChecks must not be negative", enroll.ErrInvalidConfig)
	}
	if cfg.LinkTTL == 0 {
		sc := cfg.Service.Config()
		cfg.LinkTTL = sc.TTL + sc.CompleteWindow
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.MaxConcurrentChecks == 0 {
		cfg.MaxConcurrentChecks = runtime.NumCPU()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, svc: cfg.Service, admin: cfg.Service.Admin(), log: log,
		checks: make(chan struct{}, cfg.MaxConcurrentChecks),
		done:   make(chan struct{}),
	}
	s.routes = s.routeTable()
	s.handler = s.buildHandler()
	return s, nil
}

// Handler returns the handler of /v1/…, /healthz and /readyz; every other
// path is answered 404.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends the event streams in progress (they end by themselves when
// the Service closes, too), so that http.Server.Shutdown need not wait
// for them; register it with http.Server.RegisterOnShutdown. Requests
// after Close are still served, but new streams end at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// authMode says which credentials a route takes.
type authMode uint8

const (
	authNone      authMode = iota // public
	authKey                       // API key only
	authKeyOrLink                 // API key, or the link of the enrollment {id}
	authLink                      // the enrollment link only
)

// route is one endpoint. path uses the OpenAPI form, which is also the
// http.ServeMux wildcard form ("/v1/enrollments/{id}").
type route struct {
	method string
	path   string
	auth   authMode
	h      func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routeTable() []route {
	rts := []route{
		{"GET", "/healthz", authNone, s.healthz},
		{"GET", "/readyz", authNone, s.readyz},
		{"GET", "/v1/openapi.json", authNone, s.openapi},
		{"POST", "/v1/enrollments", authKey, s.createEnrollment},
		{"GET", "/v1/enrollments/{id}", authKeyOrLink, s.getEnrollment},
		{"POST", "/v1/enrollments/{id}/call", authKeyOrLink, s.startCall},
		{"GET", "/v1/enrollments/{id}/events", authKey, s.listEvents},
		{"GET", "/v1/enrollments/{id}/stream", authKeyOrLink, s.stream},
		{"POST", "/v1/enrollments/{id}/app-password", authLink, s.claimAppPassword},
		{"GET", "/v1/link", authLink, s.getLink},
		{"POST", "/v1/users/{user}/app-passwords", authKey, s.issueAppPassword},
		{"GET", "/v1/users/{user}/app-passwords", authKey, s.listAppPasswords},
		{"DELETE", "/v1/users/{user}/app-passwords/{id}", authKey, s.revokeAppPassword},
		{"POST", "/v1/app-passwords/check", authKey, s.checkAppPassword},
	}
	return append(rts, s.adminRoutes()...)
}

// buildHandler registers the routes, one ServeMux pattern per path with
// a method switch (so that a wrong method is 405 with Allow, in JSON),
// a catch-all 404, and the middleware every response passes through.
func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	byPath := map[string][]route{}
	var paths []string
	for _, rt := range s.routes {
		if _, ok := byPath[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		byPath[rt.path] = append(byPath[rt.path], rt)
	}
	for _, p := range paths {
		rts := byPath[p]
		var allow []string
		for _, rt := range rts {
			allow = append(allow, rt.method)
		}
		mux.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, rt := range rts {
				if r.Method == rt.method {
					info(r).route = rt.method + " " + rt.path
					s.serve(w, r, rt)
					return
				}
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, apiError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, nil))
		}))
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apiError(http.StatusNotFound, CodeNotFound, nil))
	}))
	return s.middleware(mux)
}

// eventStream reports whether rt is the event stream: the one route that
// takes a link token in the query (?token=), as EventSource cannot set
// headers.
func (rt route) eventStream() bool {
	return rt.method == http.MethodGet && strings.HasSuffix(rt.path, "/stream")
}

// serve authenticates the request as rt asks and runs its handler. A
// credential in the query is refused outside the event stream (URLs end
// up in logs and histories), and so is a link already consumed, by the
// web UI or by a claim (one record of use, the Service's).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt route) {
	if rt.auth != authNone && !rt.eventStream() && r.URL.Query().Has("token") {
		code := CodeUnauthorized
		if rt.auth == authLink {
			code = CodeLinkInvalid
		}
		s.writeError(w, r, apiError(http.StatusUnauthorized, code, errors.New("a token in the query outside the event stream")))
		return
	}
	if err := s.authenticate(r, rt.auth); err != nil {
		s.writeError(w, r, err)
		return
	}
	if l := info(r).link; l != nil {
		used, err := s.svc.LinkUsed(r.Context(), *l)
		switch {
		case err != nil:
			s.writeError(w, r, apiError(http.StatusServiceUnavailable, CodeUnavailable, err))
			return
		case used:
			s.writeError(w, r, apiError(http.StatusGone, CodeLinkUsed, errors.New("link consumed")))
			return
		}
	}
	if err := rt.h(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// reqInfo is what the middleware and authentication learn about a
// request; handlers read it with info(r).
type reqInfo struct {
	id    string       // request ID
	route string       // "GET /v1/enrollments/{id}", empty when none matched
	actor enroll.Actor // who is calling, once authenticated
	link  *enroll.Link // the link, when a link authenticated the request
}

type infoKey struct{}

func info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

func (ri *reqInfo) origin() enroll.Origin {
	return enroll.Origin{Actor: ri.actor, RequestID: ri.id}
}

// middleware sets the security headers and the request ID, bounds the
// body, recovers panics and logs one record per request.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: requestID(r.Header.Get(requestIDHeader))}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set(requestIDHeader, ri.id)
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		sw := httpx.NewStatusRecorder(w)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				buf := make([]byte, 4<<10)
				buf = buf[:runtime.Stack(buf, false)]
				s.log.Error("httpapi: panic", "request_id", ri.id, "route", ri.route, "panic", fmt.Sprint(p), "stack", string(buf))
				if !sw.Wrote() {
					s.writeError(sw, r, apiError(http.StatusInternalServerError, CodeInternal, nil))
				}
			}
			route := ri.route
			if route == "" {
				route = "unmatched"
			}
			s.log.Info("httpapi: request", "method", r.Method, "route", route, "status", sw.Status(),
				"duration", time.Since(start), "request_id", ri.id, "actor", string(ri.actor))
		}()
		next.ServeHTTP(sw, r)
	})
}

var requestIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// requestID returns the client's X-Request-ID when it is 1 to 64
// characters of [A-Za-z0-9._:-], and a new random one otherwise.
func requestID(h string) string {
	if h != "" && len(h) <= MaxRequestIDLen {
		ok := true
		for _, c := range []byte(h) {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == ':':
			default:
				ok = false
			}
		}
		if ok {
			return h
		}
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	return requestIDEncoding.EncodeToString(b[:])
}

// writeJSON sends v as JSON with the status.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.log.Error("httpapi: encoding a response failed", "err", err)
		status = http.StatusInternalServerError
		body, _ = json.Marshal(errorBody{errorDetail{CodeInternal, messages[CodeInternal][0], messages[CodeInternal][1]}})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeError answers with err as an error response and logs its cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	he := errorOf(err)
	ri := info(r)
	level := slog.LevelInfo
	if he.Code >= 500 {
		level = slog.LevelError
	}
	attrs := []any{"request_id", ri.id, "status", he.Code, "code", he.ErrCode}
	if he.Err != nil {
		attrs = append(attrs, "err", he.Err.Error())
	}
	s.log.Log(r.Context(), level, "httpapi: error", attrs...)
	if he.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(he.RetryAfter))
	}
	if he.Code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="denwa"`)
	}
	s.writeJSON(w, he.Code, errorBody{errorDetail{he.ErrCode, he.Msg, he.MsgEN}})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 200 when the store answers (enroll.Service.Ping).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ping(ctx); err != nil {
		return apiError(http.StatusServiceUnavailable, CodeUnavailable, fmt.Errorf("store: %w", err))
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
