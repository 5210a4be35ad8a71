package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"denwa/enroll"
)

// enrollmentJSON is an enrollment as the API shows it.
type enrollmentJSON struct {
	ID           string         `json:"id"`
	UserID       string         `json:"user_id"`
	Phone        string         `json:"phone"`
	PhoneDisplay string         `json:"phone_display,omitempty"`
	Country      string         `json:"country,omitempty"`
	State        enroll.State   `json:"state"`
	Final        bool           `json:"final"`
	Attempts     int            `json:"attempts"`
	MaxAttempts  int            `json:"max_attempts"`
	Outcome      enroll.Outcome `json:"outcome"`
	Cause        string         `json:"cause,omitempty"`
	KeySource    string         `json:"key_source,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	ExpiresAt    time.Time      `json:"expires_at,omitzero"`
	VerifiedAt   time.Time      `json:"verified_at,omitzero"`
	CompletedAt  time.Time      `json:"completed_at,omitzero"`
}

func (s *Server) enrollmentJSON(e enroll.Enrollment) enrollmentJSON {
	return enrollmentOf(e, s.svc.Config().MaxAttempts)
}

// enrollmentOf renders e for a service that places at most max calls an
// enrollment.
func enrollmentOf(e enroll.Enrollment, max int) enrollmentJSON {
	j := enrollmentJSON{
		ID: e.ID, UserID: e.UserID, Phone: e.Phone, Country: e.Country,
		State: e.State, Final: finalFor(e, max), Attempts: e.Attempts, MaxAttempts: max,
		Outcome: e.Outcome, Cause: e.Cause, KeySource: e.KeySource,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, ExpiresAt: e.ExpiresAt,
		VerifiedAt: e.VerifiedAt, CompletedAt: e.CompletedAt,
	}
	if p, err := enroll.ParseE164(e.Phone); err == nil {
		j.PhoneDisplay = p.Display
	}
	return j
}

// final reports whether nothing more will happen to e: completed,
// expired, or failed with no retry left.
func (s *Server) final(e enroll.Enrollment) bool { return finalFor(e, s.svc.Config().MaxAttempts) }

// finalFor is final for a service that places at most max calls an
// enrollment.
func finalFor(e enroll.Enrollment, max int) bool {
	return e.State.Final() || (e.State == enroll.StateFailed && !e.Retryable(max))
}

type linkJSON struct {
	Token     string    `json:"token"`
	URL       string    `json:"url,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

type createRequest struct {
	UserID   string `json:"user_id"`
	Phone    string `json:"phone"`
	Country  string `json:"country"`
	ClientIP string `json:"client_ip"`
}

type createResponse struct {
	Enrollment enrollmentJSON `json:"enrollment"`
	Link       linkJSON       `json:"link"`
}

// createEnrollment: POST /v1/enrollments.
func (s *Server) createEnrollment(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !validText(req.UserID, maxUserIDLen) {
		return fieldError("user_id", "must be 1 to 256 bytes of printable UTF-8")
	}
	var clientIP string
	if req.ClientIP != "" {
		a, err := netip.ParseAddr(req.ClientIP)
		if err != nil || a.Zone() != "" {
			return fieldError("client_ip", "not an IP address")
		}
		clientIP = a.Unmap().String()
	}
	ri := info(r)
	e, err := s.svc.Create(r.Context(), enroll.CreateRequest{
		UserID: req.UserID, Phone: req.Phone, Country: req.Country, ClientIP: clientIP, Origin: ri.origin(),
	})
	if err != nil {
		return err // a refused number: its *enroll.PhoneError, 422 with its code (errorOf)
	}
	l, err := s.newLink(e)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/enrollments/"+e.ID)
	s.writeJSON(w, http.StatusCreated, createResponse{Enrollment: s.enrollmentJSON(e), Link: l})
	return nil
}

// newLink signs a one-time link to e.
func (s *Server) newLink(e enroll.Enrollment) (linkJSON, error) {
	exp := s.cfg.Now().Add(s.cfg.LinkTTL).Truncate(time.Second)
	l, err := enroll.NewLink(e.ID, e.UserID, exp)
	if err != nil {
		return linkJSON{}, fmt.Errorf("httpapi: new link: %w", err)
	}
	tok, err := s.cfg.Links.Sign(l)
	if err != nil {
		return linkJSON{}, fmt.Errorf("httpapi: sign link: %w", err)
	}
	j := linkJSON{Token: tok, ExpiresAt: exp.UTC()}
	if s.cfg.BaseURL != "" {
		j.URL = s.cfg.BaseURL + "/enroll#" + tok
	}
	return j, nil
}

// enrollment reads the enrollment of the path for the caller: a link
// may read only its own enrollment (checked in authenticate), and only
// until the enrollment is completed (its app password claimed): then
// the link is spent, 410 link_used.
func (s *Server) enrollment(r *http.Request) (enroll.Enrollment, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return enroll.Enrollment{}, err
	}
	e, err := s.svc.Get(r.Context(), id)
	if err != nil {
		return enroll.Enrollment{}, err
	}
	if l := info(r).link; l != nil {
		if e.UserID != l.UserID {
			return enroll.Enrollment{}, apiError(http.StatusForbidden, CodeForbidden, errors.New("link user differs"))
		}
		if e.State == enroll.StateCompleted {
			return enroll.Enrollment{}, apiError(http.StatusGone, CodeLinkUsed, errors.New("enrollment completed"))
		}
	}
	return e, nil
}

// getEnrollment: GET /v1/enrollments/{id}.
func (s *Server) getEnrollment(w http.ResponseWriter, r *http.Request) error {
	e, err := s.enrollment(r)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, s.enrollmentJSON(e))
	return nil
}

// startCall: POST /v1/enrollments/{id}/call. 202 with the enrollment in
// calling; the call goes on in the background.
func (s *Server) startCall(w http.ResponseWriter, r *http.Request) error {
	if err := decodeOptionalJSON(r, &struct{}{}); err != nil {
		return err
	}
	e, err := s.enrollment(r)
	if err != nil {
		return err
	}
	e, err = s.svc.StartCall(r.Context(), e.ID, info(r).origin())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/enrollments/"+e.ID)
	s.writeJSON(w, http.StatusAccepted, s.enrollmentJSON(e))
	return nil
}

// auditJSON is one audit event as the API shows it.
type auditJSON struct {
	ID        string         `json:"id"`
	At        time.Time      `json:"at"`
	Actor     string         `json:"actor"`
	Action    string         `json:"action"`
	From      enroll.State   `json:"from"`
	To        enroll.State   `json:"to"`
	Outcome   enroll.Outcome `json:"outcome"`
	Cause     string         `json:"cause,omitempty"`
	KeySource string         `json:"key_source,omitempty"`
	Keys      string         `json:"keys,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	Attempt   int            `json:"attempt"`
}

func auditOf(ev enroll.AuditEvent) auditJSON {
	return auditJSON{
		ID: ev.ID, At: ev.At, Actor: string(ev.Actor), Action: ev.Action, From: ev.From, To: ev.To,
		Outcome: ev.Outcome, Cause: ev.Cause, KeySource: ev.KeySource, Keys: ev.Keys,
		RequestID: ev.RequestID, Attempt: ev.Attempt,
	}
}

type eventsResponse struct {
	Events []auditJSON `json:"events"`
}

// listEvents: GET /v1/enrollments/{id}/events.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	evs, err := s.svc.Audit(r.Context(), id)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, eventsResponse{Events: each(evs, auditOf)})
	return nil
}

type linkInfoResponse struct {
	Enrollment enrollmentJSON `json:"enrollment"`
	ExpiresAt  time.Time      `json:"expires_at"`
}

// getLink: GET /v1/link. The exchange the web UI makes with the token it
// was opened with: which enrollment it is for, and its state.
func (s *Server) getLink(w http.ResponseWriter, r *http.Request) error {
	l := info(r).link
	e, err := s.svc.Get(r.Context(), l.EnrollmentID)
	if err != nil {
		return err
	}
	if e.UserID != l.UserID {
		return apiError(http.StatusForbidden, CodeForbidden, errors.New("link user differs"))
	}
	if e.State == enroll.StateCompleted {
		return apiError(http.StatusGone, CodeLinkUsed, errors.New("enrollment completed"))
	}
	s.writeJSON(w, http.StatusOK, linkInfoResponse{Enrollment: s.enrollmentJSON(e), ExpiresAt: l.Expires})
	return nil
}
