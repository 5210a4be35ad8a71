package httpapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"denwa/enroll"
)

// authenticate checks the request's credentials as mode asks and records
// who is calling in its reqInfo. It returns an *HTTPError.
func (s *Server) authenticate(r *http.Request, mode authMode) error {
	if mode == authNone {
		return nil
	}
	ri := info(r)
	cred, fromQuery := credential(r)
	if cred == "" {
		if mode == authLink {
			return apiError(http.StatusUnauthorized, CodeLinkInvalid, errors.New("no link token"))
		}
		return apiError(http.StatusUnauthorized, CodeUnauthorized, errors.New("no credentials"))
	}
	if strings.HasPrefix(cred, "dnw_") {
		if mode == authLink {
			return apiError(http.StatusForbidden, CodeForbidden, errors.New("an API key on a link-only route"))
		}
		if fromQuery {
			// Keys in URLs end up in logs and histories.
			return apiError(http.StatusUnauthorized, CodeUnauthorized, errors.New("API key in the query"))
		}
		actor, scopes, err := s.apiKey(r, cred)
		if err != nil {
			return err
		}
		ri.actor = actor
		return requireScope(ri.route, scopes)
	}
	if mode == authKey {
		return apiError(http.StatusUnauthorized, CodeUnauthorized, errors.New("not an API key"))
	}
	l, err := s.cfg.Links.Verify(cred, s.cfg.Now())
	switch {
	case errors.Is(err, enroll.ErrTokenExpired):
		return apiError(http.StatusGone, CodeLinkExpired, err)
	case err != nil:
		return apiError(http.StatusUnauthorized, CodeLinkInvalid, err)
	}
	if id := r.PathValue("id"); id != "" && id != l.EnrollmentID {
		return apiError(http.StatusForbidden, CodeForbidden, errors.New("the link is for another enrollment"))
	}
	ri.actor = enroll.ActorUserLink
	ri.link = &l
	return nil
}

// credential returns the bearer credential of r: the Authorization
// header, or on GET requests the query parameter token (for EventSource,
// which cannot set headers).
func credential(r *http.Request) (cred string, fromQuery bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		return strings.TrimSpace(rest), false
	}
	if r.Method == http.MethodGet {
		if t := r.URL.Query().Get("token"); t != "" {
			return t, true
		}
	}
	return "", false
}

// apiKey checks an API key against the store and returns its actor and
// scopes, or an *HTTPError 401. The key is looked up by its hash and the
// hashes are compared in constant time; revoked keys are refused. No
// error names the key.
func (s *Server) apiKey(r *http.Request, plain string) (enroll.Actor, enroll.Scopes, error) {
	id, secret, err := enroll.ParseAPIKey(plain)
	if err != nil {
		return "", 0, apiError(http.StatusUnauthorized, CodeUnauthorized, err)
	}
	hash, err := enroll.APIKeyHash(plain)
	if err != nil {
		return "", 0, apiError(http.StatusUnauthorized, CodeUnauthorized, err)
	}
	k, err := s.svc.APIKey(r.Context(), hash)
	switch {
	case errors.Is(err, enroll.ErrNotFound):
		return "", 0, apiError(http.StatusUnauthorized, CodeUnauthorized, errors.New("unknown API key"))
	case err != nil:
		return "", 0, apiError(http.StatusServiceUnavailable, CodeUnavailable, fmt.Errorf("API key lookup: %w", err))
	}
	rec := enroll.APIKeyRecord{ID: id, Name: k.Name, SecretHash: k.Hash}
	if subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash)) != 1 || !rec.Verify(secret) {
		return "", 0, apiError(http.StatusUnauthorized, CodeUnauthorized, errors.New("API key hash mismatch"))
	}
	if !k.RevokedAt.IsZero() {
		return "", 0, apiError(http.StatusUnauthorized, CodeUnauthorized, fmt.Errorf("API key %q is revoked", enroll.ActorForKey(k.Name)))
	}
	return enroll.ActorForKey(k.Name), k.Scopes, nil
}

// routeScopes is the scope an API key needs on each route that takes
// one, keyed like reqInfo.route. Enrollments and their calls are enroll;
// checking an app password is check; issuing, listing and revoking app
// passwords, and anything an operator does, is admin. A key route missing
// here needs admin (a test requires every key route to be listed).
var routeScopes = map[string]enroll.Scopes{
	"POST /v1/enrollments":                       enroll.ScopeEnroll,
	"GET /v1/enrollments/{id}":                   enroll.ScopeEnroll,
	"POST /v1/enrollments/{id}/call":             enroll.ScopeEnroll,
	"GET /v1/enrollments/{id}/events":            enroll.ScopeEnroll,
	"GET /v1/enrollments/{id}/stream":            enroll.ScopeEnroll,
	"POST /v1/users/{user}/app-passwords":        enroll.ScopeAdmin,
	"GET /v1/users/{user}/app-passwords":         enroll.ScopeAdmin,
	"DELETE /v1/users/{user}/app-passwords/{id}": enroll.ScopeAdmin,
	"POST /v1/app-passwords/check":               enroll.ScopeCheck,
}

// scopeOf returns the scope a key needs on route.
func scopeOf(route string) enroll.Scopes {
	if sc, ok := routeScopes[route]; ok {
		return sc
	}
	return enroll.ScopeAdmin
}

// requireScope refuses a key without the scope route needs: 403
// insufficient_scope, naming the scope (never the key).
func requireScope(route string, have enroll.Scopes) error {
	need := scopeOf(route)
	if have.Has(need) {
		return nil
	}
	e := apiError(http.StatusForbidden, CodeInsufficientScope, fmt.Errorf("route %s needs scope %s; the key has %q", route, need, have))
	e.Msg = fmt.Sprintf("この API キーには、この操作に必要な権限 (%s) がありません。", need)
	e.MsgEN = fmt.Sprintf("This API key does not have the scope this operation needs (%s).", need)
	return e
}
