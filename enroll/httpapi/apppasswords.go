package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"denwa/enroll"
)

// appPasswordJSON is an app password as listed: never its hash.
type appPasswordJSON struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

func appPasswordOf(p enroll.AppPassword) appPasswordJSON {
	return appPasswordJSON{ID: p.ID, UserID: p.UserID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt, RevokedAt: p.RevokedAt}
}

// issuedJSON is the answer that carries the plain password, once.
type issuedJSON struct {
	appPasswordJSON
	// Password is the 16 letters; PasswordDisplay the same in four
	// groups of four, as shown to the user.
	Password        string `json:"password"`
	PasswordDisplay string `json:"password_display"`
	EnrollmentID    string `json:"enrollment_id"`
}

type issueRequest struct {
	Name         string `json:"name"`
	EnrollmentID string `json:"enrollment_id"`
}

// issueAppPassword: POST /v1/users/{user}/app-passwords. The body names
// the user's verified enrollment, which the issue completes: one verified
// enrollment gives one app password.
func (s *Server) issueAppPassword(w http.ResponseWriter, r *http.Request) error {
	user, err := pathUser(r)
	if err != nil {
		return err
	}
	var req issueRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !validText(req.Name, maxAppPasswordNameLen) {
		return fieldError("name", "must be 1 to 100 bytes of printable UTF-8")
	}
	if !validID(req.EnrollmentID) {
		return fieldError("enrollment_id", "not an enrollment ID")
	}
	e, err := s.svc.Get(r.Context(), req.EnrollmentID)
	if err != nil {
		if errors.Is(err, enroll.ErrNotFound) {
			return apiError(http.StatusUnprocessableEntity, CodeInvalidField, err)
		}
		return err
	}
	if e.UserID != user {
		return apiError(http.StatusUnprocessableEntity, CodeEnrollmentMismatch, errors.New("enrollment of another user"))
	}
	out, err := s.issue(r.Context(), e, req.Name, info(r).origin())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/users/"+user+"/app-passwords/"+out.ID)
	s.writeJSON(w, http.StatusCreated, out)
	return nil
}

type claimRequest struct {
	Name string `json:"name"`
}

// claimAppPassword: POST /v1/enrollments/{id}/app-password, with the
// enrollment's link only. The link is spent (its ID recorded as used) once
// the password is issued; a second claim gets 410 link_used.
func (s *Server) claimAppPassword(w http.ResponseWriter, r *http.Request) error {
	var req claimRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = "denwa"
	}
	if !validText(req.Name, maxAppPasswordNameLen) {
		return fieldError("name", "must be 1 to 100 bytes of printable UTF-8")
	}
	e, err := s.enrollment(r)
	if err != nil {
		return err
	}
	// issue's verified → completed step lets one claim through; the link
	// is spent after it, so that a claim that fails (busy, a store error)
	// leaves the link for another try.
	out, err := s.issue(r.Context(), e, req.Name, info(r).origin())
	if err != nil {
		return err
	}
	if err := s.svc.UseLink(r.Context(), *info(r).link); err != nil {
		// The password exists and is shown only now: hand it over; the
		// completed enrollment refuses every later claim anyway.
		s.log.Warn("httpapi: recording the link as used failed", "err", err)
	}
	s.writeJSON(w, http.StatusCreated, out)
	return nil
}

// checkIssuable refuses an enrollment that cannot give an app password.
func (s *Server) checkIssuable(e enroll.Enrollment) error {
	switch e.State {
	case enroll.StateVerified:
		return nil
	case enroll.StateExpired:
		return apiError(http.StatusGone, CodeEnrollmentExpired, nil)
	case enroll.StateCompleted:
		return apiError(http.StatusConflict, CodeInvalidState, errors.New("app password already issued"))
	}
	return apiError(http.StatusConflict, CodeNotVerified, fmt.Errorf("enrollment in %s", e.State))
}

// issue makes an app password for e's user and completes e
// (enroll.Service.IssueAppPassword: one verified enrollment, one app
// password).
func (s *Server) issue(ctx context.Context, e enroll.Enrollment, name string, o enroll.Origin) (issuedJSON, error) {
	if err := s.checkIssuable(e); err != nil {
		return issuedJSON{}, err
	}
	if err := s.acquire(ctx); err != nil { // hashing is argon2id: bounded like checks
		return issuedJSON{}, err
	}
	plain, p, err := s.svc.IssueAppPassword(ctx, e.ID, name, o)
	s.release()
	switch {
	case errors.Is(err, enroll.ErrLimit):
		return issuedJSON{}, apiError(http.StatusConflict, CodeAppPasswordLimit, err)
	case errors.Is(err, enroll.ErrConflict) || errors.Is(err, enroll.ErrInvalidTransition):
		return issuedJSON{}, apiError(http.StatusConflict, CodeInvalidState, err)
	case err != nil:
		return issuedJSON{}, err
	}
	return issuedJSON{
		appPasswordJSON: appPasswordOf(p),
		Password:        plain, PasswordDisplay: enroll.FormatAppPassword(plain),
		EnrollmentID: e.ID,
	}, nil
}

func (s *Server) acquire(ctx context.Context) error {
	select {
	case s.checks <- struct{}{}:
		return nil
	case <-ctx.Done():
		return apiError(http.StatusServiceUnavailable, CodeUnavailable, context.Cause(ctx))
	}
}

func (s *Server) release() { <-s.checks }

type listResponse struct {
	AppPasswords []appPasswordJSON `json:"app_passwords"`
	Active       int               `json:"active"`
	Max          int               `json:"max"`
}

// listAppPasswords: GET /v1/users/{user}/app-passwords, revoked ones
// included, oldest first.
func (s *Server) listAppPasswords(w http.ResponseWriter, r *http.Request) error {
	user, err := pathUser(r)
	if err != nil {
		return err
	}
	ps, err := s.svc.AppPasswords(r.Context(), user)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, appPasswordList(ps))
	return nil
}

// appPasswordList is the answer listing ps.
func appPasswordList(ps []enroll.AppPassword) listResponse {
	out := listResponse{AppPasswords: make([]appPasswordJSON, 0, len(ps)), Max: enroll.MaxAppPasswordsPerUser}
	for _, p := range ps {
		out.AppPasswords = append(out.AppPasswords, appPasswordOf(p))
		if p.RevokedAt.IsZero() {
			out.Active++
		}
	}
	return out
}

// revokeAppPassword: DELETE /v1/users/{user}/app-passwords/{id} (and
// /v1/admin/users/…), with an optional {"reason": "…"}; recorded as an
// operator event naming the key (enroll.Admin). 204; revoking again is
// 204 too.
func (s *Server) revokeAppPassword(w http.ResponseWriter, r *http.Request) error {
	user, err := pathUser(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rsn, err := reason(r)
	if err != nil {
		return err
	}
	if err := s.admin.RevokeAppPassword(r.Context(), user, id, rsn, info(r).origin()); err != nil {
		return adminErr(err, true)
	}
	s.log.Info("httpapi: app password revoked", "request_id", info(r).id, "app_password", id, "actor", string(info(r).actor))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type checkRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	// ClientIP is the address of the client that tried the password, as
	// the gateway saw it: the failure limits key on it (see
	// enroll.CheckLimits). Optional, but without it a user's failures
	// from every address count together.
	ClientIP string `json:"client_ip"`
}

type checkResponse struct {
	Valid bool `json:"valid"`
}

// checkAppPassword: POST /v1/app-passwords/check, for a mail gateway or
// RADIUS bridge (scope check). Failed checks are limited per user, per
// client address and in all, per minute (enroll.CheckLimits); over a
// limit, 429 until the minute ends, with no hash computed
// (enroll.Service.CheckAppPassword). The hashes computed at once are
// bounded by MaxConcurrentChecks.
func (s *Server) checkAppPassword(w http.ResponseWriter, r *http.Request) error {
	var req checkRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !validText(req.User, maxUserIDLen) {
		return fieldError("user", "must be 1 to 256 bytes of printable UTF-8")
	}
	if len(req.Password) > 256 {
		return fieldError("password", "too long")
	}
	var source netip.Addr
	if req.ClientIP != "" {
		a, err := netip.ParseAddr(req.ClientIP)
		if err != nil || a.Zone() != "" {
			return fieldError("client_ip", "not an IP address")
		}
		source = a
	}
	ctx := r.Context()
	if err := s.acquire(ctx); err != nil {
		return err
	}
	ok, err := s.svc.CheckAppPassword(ctx, req.User, req.Password, source)
	s.release()
	if err != nil {
		return err // a *enroll.LimitError: 429 with Retry-After (errorOf)
	}
	s.writeJSON(w, http.StatusOK, checkResponse{Valid: ok})
	return nil
}
