package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"denwa/enroll"
)

// The admin API, /v1/admin/…: the operators' view (enroll.Admin) for API
// keys with the admin scope. Lists are newest first (webhooks oldest
// first) and paged by cursor: an answer's next_cursor, passed back as
// ?cursor=, gives the next page; there is none on the last. Query
// parameters are checked: an unknown one or a bad value is 400
// invalid_query, whose message says what is wrong.

// adminRoutes are the admin API's routes; every one needs the admin
// scope (routeScopes).
func (s *Server) adminRoutes() []route {
	return []route{
		{"GET", "/v1/admin/enrollments", authKey, s.adminEnrollments},
		{"GET", "/v1/admin/enrollments/{id}", authKey, s.adminEnrollment},
		{"GET", "/v1/admin/blocked-numbers", authKey, s.adminBlocked},
		{"DELETE", "/v1/admin/blocked-numbers/{e164}", authKey, s.adminUnblock},
		{"GET", "/v1/admin/fraud-reports", authKey, s.adminFraud},
		{"GET", "/v1/admin/operator-events", authKey, s.adminOperatorEvents},
		// The same as /v1/users/{user}/app-passwords, under /v1/admin/.
		{"GET", "/v1/admin/users/{user}/app-passwords", authKey, s.listAppPasswords},
		{"DELETE", "/v1/admin/users/{user}/app-passwords/{id}", authKey, s.revokeAppPassword},
		{"GET", "/v1/admin/api-keys", authKey, s.adminAPIKeys},
		{"POST", "/v1/admin/api-keys", authKey, s.adminCreateAPIKey},
		{"DELETE", "/v1/admin/api-keys/{name}", authKey, s.adminRevokeAPIKey},
		{"GET", "/v1/admin/webhooks", authKey, s.adminWebhooks},
		{"POST", "/v1/admin/webhooks/{id}/redeliver", authKey, s.adminRedeliver},
		{"GET", "/v1/admin/summary", authKey, s.adminSummary},
	}
}

// view renders the admin API's answers.
func (s *Server) view() AdminView { return AdminView{MaxAttempts: s.svc.Config().MaxAttempts} }

// Every admin route needs the admin scope: listed in routeScopes from
// the table itself, so that none is forgotten.
func init() {
	for _, rt := range (&Server{}).adminRoutes() {
		routeScopes[rt.method+" "+rt.path] = enroll.ScopeAdmin
	}
}

// invalid answers an enroll.ErrInvalidInput of Admin: status and code as
// given, with the reason in the message (Admin's reasons are for the
// operator and hold no secret; an input they quote is cut short).
func invalid(status int, code string, err error) *HTTPError {
	e := apiError(status, code, err)
	why := strings.TrimPrefix(err.Error(), enroll.ErrInvalidInput.Error()+": ")
	e.Msg += " " + why
	e.MsgEN += " " + why
	return e
}

// queryError answers a bad query: 400 invalid_query saying why.
func queryError(format string, args ...any) *HTTPError {
	return invalid(http.StatusBadRequest, CodeInvalidQuery, fmt.Errorf(format, args...))
}

// adminErr translates an error of enroll.Admin: ErrInvalidInput from a
// query is 400 invalid_query, from a body 422 invalid_field, each saying
// why; the others as errorOf does.
func adminErr(err error, fromBody bool) error {
	if !errors.Is(err, enroll.ErrInvalidInput) {
		return err
	}
	if fromBody {
		return invalid(http.StatusUnprocessableEntity, CodeInvalidField, err)
	}
	return invalid(http.StatusBadRequest, CodeInvalidQuery, err)
}

// query reads the query parameters of r, refusing any not in allowed and
// any given twice.
type query struct {
	v url.Values
}

func readQuery(r *http.Request, allowed ...string) (query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, queryError("the query string is malformed")
	}
	for name, vals := range v {
		if !slices.Contains(allowed, name) {
			return query{}, queryError("unknown parameter %.40q (this route takes %s)", name, strings.Join(allowed, ", "))
		}
		if len(vals) > 1 {
			return query{}, queryError("parameter %s given %d times", name, len(vals))
		}
	}
	return query{v}, nil
}

func (q query) str(name string) string { return q.v.Get(name) }

// time reads an RFC 3339 time ("2026-12-06T00:00:00Z"); absent is zero.
func (q query) time(name string) (time.Time, error) {
	s := q.v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, queryError("%s %.40q is not an RFC 3339 time (as 2026-12-06T09:00:00Z)", name, s)
	}
	return t, nil
}

// page reads cursor and limit; Admin checks their values.
func (q query) page() (enroll.Page, error) {
	p := enroll.Page{Cursor: q.v.Get("cursor")}
	if s := q.v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, queryError("limit %.20q is not a whole number (1 to %d)", s, enroll.MaxPageSize)
		}
		if n == 0 {
			return p, queryError("limit 0: want 1 to %d", enroll.MaxPageSize)
		}
		p.Limit = n
	}
	return p, nil
}

// pageParams are the parameters of every paged list.
var pageParams = []string{"cursor", "limit"}

// adminEnrollments: GET /v1/admin/enrollments?user=&phone=&state=&outcome=&from=&to=&cursor=&limit=
func (s *Server) adminEnrollments(w http.ResponseWriter, r *http.Request) error {
	q, err := readQuery(r, append([]string{"user", "phone", "state", "outcome", "from", "to"}, pageParams...)...)
	if err != nil {
		return err
	}
	eq := enroll.EnrollmentQuery{UserID: q.str("user"), Phone: q.str("phone"), State: q.str("state"), Outcome: q.str("outcome")}
	if eq.From, err = q.time("from"); err != nil {
		return err
	}
	if eq.To, err = q.time("to"); err != nil {
		return err
	}
	if eq.Page, err = q.page(); err != nil {
		return err
	}
	p, err := s.admin.Enrollments(r.Context(), eq)
	if err != nil {
		return adminErr(err, false)
	}
	s.writeJSON(w, http.StatusOK, s.view().Enrollments(p))
	return nil
}

// adminEnrollment: GET /v1/admin/enrollments/{id}, with its timeline.
func (s *Server) adminEnrollment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := readQuery(r); err != nil {
		return err
	}
	d, err := s.admin.Enrollment(r.Context(), id)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, s.view().Detail(d))
	return nil
}

// adminBlocked: GET /v1/admin/blocked-numbers?cursor=&limit=
func (s *Server) adminBlocked(w http.ResponseWriter, r *http.Request) error {
	q, err := readQuery(r, pageParams...)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	p, err := s.admin.BlockedNumbers(r.Context(), pg)
	if err != nil {
		return adminErr(err, false)
	}
	s.writeJSON(w, http.StatusOK, s.view().Blocked(p))
	return nil
}

// reasonRequest is the optional body of the admin's DELETEs.
type reasonRequest struct {
	Reason string `json:"reason"`
}

// reason reads the optional {"reason": "…"} body.
func reason(r *http.Request) (string, error) {
	var req reasonRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return "", err
	}
	if req.Reason != "" && !validText(req.Reason, enroll.MaxReasonLen) {
		return "", fieldError("reason", fmt.Sprintf("must be at most %d bytes of printable UTF-8", enroll.MaxReasonLen))
	}
	return req.Reason, nil
}

// adminUnblock: DELETE /v1/admin/blocked-numbers/{e164}, with an optional
// {"reason": "…"}: lifts the block, recorded as an operator event naming
// the key. 404 when the number is not blocked.
func (s *Server) adminUnblock(w http.ResponseWriter, r *http.Request) error {
	rsn, err := reason(r)
	if err != nil {
		return err
	}
	phone := r.PathValue("e164")
	if !enroll.IsE164(phone) {
		return apiError(http.StatusBadRequest, CodeInvalidID, fmt.Errorf("path e164 %.40q is no E.164 number", phone))
	}
	b, ev, err := s.admin.UnblockRecorded(r.Context(), phone, rsn, info(r).origin())
	if err != nil {
		return adminErr(err, true)
	}
	s.writeJSON(w, http.StatusOK, s.view().Unblocked(b, ev))
	return nil
}

// adminFraud: GET /v1/admin/fraud-reports?from=&to=&cursor=&limit=
func (s *Server) adminFraud(w http.ResponseWriter, r *http.Request) error {
	q, err := readQuery(r, append([]string{"from", "to"}, pageParams...)...)
	if err != nil {
		return err
	}
	var fq enroll.FraudQuery
	if fq.From, err = q.time("from"); err != nil {
		return err
	}
	if fq.To, err = q.time("to"); err != nil {
		return err
	}
	if fq.Page, err = q.page(); err != nil {
		return err
	}
	p, err := s.admin.FraudReports(r.Context(), fq)
	if err != nil {
		return adminErr(err, false)
	}
	s.writeJSON(w, http.StatusOK, s.view().Fraud(p))
	return nil
}

// adminOperatorEvents: GET /v1/admin/operator-events?target=&cursor=&limit=
func (s *Server) adminOperatorEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := readQuery(r, append([]string{"target"}, pageParams...)...)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	p, err := s.admin.OperatorEvents(r.Context(), q.str("target"), pg)
	if err != nil {
		return adminErr(err, false)
	}
	s.writeJSON(w, http.StatusOK, s.view().OperatorEvents(p))
	return nil
}

// adminAPIKeys: GET /v1/admin/api-keys: names, scopes and times, never
// keys or hashes.
func (s *Server) adminAPIKeys(w http.ResponseWriter, r *http.Request) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	ks, err := s.admin.APIKeys(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, s.view().APIKeys(ks))
	return nil
}

type createKeyRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// adminCreateAPIKey: POST /v1/admin/api-keys {"name", "scopes": [...]}:
// 201 with the key, shown this once; 409 when the name is taken.
func (s *Server) adminCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req createKeyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.Scopes) == 0 || len(req.Scopes) > 3 {
		return fieldError("scopes", "want 1 to 3 of admin, check, enroll")
	}
	scopes, err := enroll.ParseScopes(strings.Join(req.Scopes, ","))
	if err != nil {
		return invalid(http.StatusUnprocessableEntity, CodeInvalidField, err)
	}
	plain, k, err := s.admin.CreateAPIKey(r.Context(), req.Name, scopes, info(r).origin())
	switch {
	case errors.Is(err, enroll.ErrConflict):
		return apiError(http.StatusConflict, CodeNameTaken, err)
	case err != nil:
		return adminErr(err, true)
	}
	w.Header().Set("Location", "/v1/admin/api-keys/"+k.Name)
	s.writeJSON(w, http.StatusCreated, s.view().CreatedAPIKey(plain, k))
	return nil
}

// adminRevokeAPIKey: DELETE /v1/admin/api-keys/{name}, with an optional
// {"reason": "…"}. 204; again is 204 too; 404 for no such key.
func (s *Server) adminRevokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !enroll.ActorAPIKey(name).Valid() {
		return apiError(http.StatusBadRequest, CodeInvalidID, fmt.Errorf("path name %.70q is no API key name", name))
	}
	rsn, err := reason(r)
	if err != nil {
		return err
	}
	if err := s.admin.RevokeAPIKey(r.Context(), name, rsn, info(r).origin()); err != nil {
		return adminErr(err, true)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// adminWebhooks: GET /v1/admin/webhooks?state=dead|pending|undelivered&cursor=&limit=,
// oldest first; never the payload.
func (s *Server) adminWebhooks(w http.ResponseWriter, r *http.Request) error {
	q, err := readQuery(r, append([]string{"state"}, pageParams...)...)
	if err != nil {
		return err
	}
	wq := enroll.WebhookQuery{State: q.str("state")}
	if wq.Page, err = q.page(); err != nil {
		return err
	}
	p, err := s.admin.Webhooks(r.Context(), wq)
	if err != nil {
		return adminErr(err, false)
	}
	s.writeJSON(w, http.StatusOK, s.view().Webhooks(p))
	return nil
}

// adminRedeliver: POST /v1/admin/webhooks/{id}/redeliver: a dead message
// back to pending (204); 404 for none, 409 not_dead for one not dead.
func (s *Server) adminRedeliver(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return apiError(http.StatusBadRequest, CodeInvalidID, errors.New("path id is no webhook message ID"))
	}
	if err := decodeOptionalJSON(r, &struct{}{}); err != nil {
		return err
	}
	err = s.admin.Redeliver(r.Context(), id, info(r).origin())
	if errors.Is(err, enroll.ErrOutboxNotDead) {
		return apiError(http.StatusConflict, CodeNotDead, err)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// adminSummary: GET /v1/admin/summary?from=&to=&bucket= (bucket as a Go
// duration: 15m, 1h; default: at most 48 buckets).
func (s *Server) adminSummary(w http.ResponseWriter, r *http.Request) error {
	q, err := readQuery(r, "from", "to", "bucket")
	if err != nil {
		return err
	}
	var sq enroll.SummaryQuery
	if sq.From, err = q.time("from"); err != nil {
		return err
	}
	if sq.To, err = q.time("to"); err != nil {
		return err
	}
	if b := q.str("bucket"); b != "" {
		if sq.Bucket, err = time.ParseDuration(b); err != nil {
			return queryError("bucket %.20q is no duration (as 15m, 1h)", b)
		}
	}
	sum, err := s.admin.Summary(r.Context(), sq)
	if err != nil {
		return adminErr(err, false)
	}
	s.writeJSON(w, http.StatusOK, s.view().Summary(sum))
	return nil
}
