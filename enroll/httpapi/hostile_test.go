package httpapi

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/enroll"
)

// Hostile and malformed requests: each gets its status and stable code
// in the JSON error form, with the security headers, and nothing is
// stored.
func TestHostileInput(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.MaxBodyBytes = 1024 }})
	e, link := h.create("u-1", "090-1234-5678")
	revoked := h.newKey("old", enroll.AllScopes)
	if err := h.st.RevokeAPIKey(t.Context(), "old", enroll.Now(time.Now())); err != nil {
		t.Fatal(err)
	}
	unknownKey, _, _ := enroll.NewAPIKey("nobody")
	// A key of the right form whose secret differs from the stored one.
	forged := h.key[:len(h.key)-4] + "aaaa"
	if forged == h.key {
		forged = h.key[:len(h.key)-4] + "bbbb"
	}
	create := "/v1/enrollments"
	big := `{"user_id":"u","phone":"` + strings.Repeat("1", 2000) + `"}`

	for _, tc := range []struct {
		name         string
		method, path string
		auth         string
		body         string
		hdr          []string
		status       int
		code         string
	}{
		{"no auth", "POST", create, "", `{}`, nil, 401, CodeUnauthorized},
		{"basic auth", "POST", create, "", `{}`, []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, CodeUnauthorized},
		{"malformed key", "POST", create, "dnw_nope", `{}`, nil, 401, CodeUnauthorized},
		{"unknown key", "POST", create, unknownKey, `{}`, nil, 401, CodeUnauthorized},
		{"forged key", "POST", create, forged, `{}`, nil, 401, CodeUnauthorized},
		{"revoked key", "POST", create, revoked, `{}`, nil, 401, CodeUnauthorized},
		{"link on a key route", "POST", create, link.Token, `{}`, nil, 401, CodeUnauthorized},
		{"link on events", "GET", "/v1/enrollments/" + e.ID + "/events", link.Token, "", nil, 401, CodeUnauthorized},
		{"key in query", "GET", "/v1/enrollments/" + e.ID + "?token=" + h.key, "", "", nil, 401, CodeUnauthorized},
		{"garbage link", "GET", "/v1/enrollments/" + e.ID, "abc.def", "", nil, 401, CodeLinkInvalid},
		{"key on link route", "GET", "/v1/link", h.key, "", nil, 403, CodeForbidden},
		{"too large", "POST", create, h.key, big, nil, 413, CodeBodyTooLarge},
		{"unknown field", "POST", create, h.key, `{"user_id":"u","phone":"0312345678","admin":true}`, nil, 400, CodeUnknownField},
		{"malformed json", "POST", create, h.key, `{"user_id":`, nil, 400, CodeMalformedJSON},
		{"empty body", "POST", create, h.key, ``, []string{"Content-Type", "application/json"}, 400, CodeMalformedJSON},
		{"two values", "POST", create, h.key, `{"user_id":"u","phone":"0312345678"}{}`, nil, 400, CodeMalformedJSON},
		{"array", "POST", create, h.key, `[]`, nil, 422, CodeInvalidField},
		{"wrong type", "POST", create, h.key, `{"user_id":5,"phone":"0312345678"}`, nil, 422, CodeInvalidField},
		{"text/plain", "POST", create, h.key, `{"user_id":"u","phone":"0312345678"}`, []string{"Content-Type", "text/plain"}, 415, CodeUnsupportedMediaType},
		{"form", "POST", create, h.key, `user_id=u`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, CodeUnsupportedMediaType},
		{"latin1", "POST", create, h.key, `{}`, []string{"Content-Type", "application/json; charset=latin1"}, 415, CodeUnsupportedMediaType},
		{"no user", "POST", create, h.key, `{"phone":"0312345678"}`, nil, 422, CodeInvalidField},
		{"control in user", "POST", create, h.key, `{"user_id":"a\u0000b","phone":"0312345678"}`, nil, 422, CodeInvalidField},
		{"bad client ip", "POST", create, h.key, `{"user_id":"u","phone":"0312345678","client_ip":"1.2.3"}`, nil, 422, CodeInvalidField},
		{"letters in number", "POST", create, h.key, `{"user_id":"u","phone":"03-1234-abcd"}`, nil, 422, enroll.PhoneErrInvalidCharacter},
		{"short number", "POST", create, h.key, `{"user_id":"u","phone":"104"}`, nil, 422, enroll.PhoneErrTooShort},
		{"emergency", "POST", create, h.key, `{"user_id":"u","phone":"110"}`, nil, 422, enroll.PhoneErrEmergency},
		{"premium", "POST", create, h.key, `{"user_id":"u","phone":"0990-123-456"}`, nil, 422, enroll.PhoneErrPremiumRate},
		{"toll free", "POST", create, h.key, `{"user_id":"u","phone":"0120-123-456"}`, nil, 422, enroll.PhoneErrTollFree},
		{"foreign", "POST", create, h.key, `{"user_id":"u","phone":"+1 202-555-0143"}`, nil, 422, enroll.PhoneErrCountryNotAllowed},
		{"bad country", "POST", create, h.key, `{"user_id":"u","phone":"0312345678","country":"XX"}`, nil, 422, enroll.PhoneErrInvalidCountry},
		{"empty number", "POST", create, h.key, `{"user_id":"u","phone":""}`, nil, 422, enroll.PhoneErrEmpty},
		{"bad path id", "GET", "/v1/enrollments/..%2f..%2fetc", h.key, "", nil, 400, CodeInvalidID},
		{"short path id", "GET", "/v1/enrollments/abc", h.key, "", nil, 400, CodeInvalidID},
		{"unknown id", "GET", "/v1/enrollments/AAAAAAAAAAAAAAAAAAAAAA", h.key, "", nil, 404, CodeNotFound},
		{"bad app password id", "DELETE", "/v1/users/u-1/app-passwords/x'--", h.key, "", nil, 400, CodeInvalidID},
		{"control in path user", "GET", "/v1/users/a%00b/app-passwords", h.key, "", nil, 400, CodeInvalidID},
		{"unknown path", "GET", "/v1/nothing", h.key, "", nil, 404, CodeNotFound},
		{"root", "GET", "/", "", "", nil, 404, CodeNotFound},
		{"wrong method", "PUT", "/v1/enrollments/" + e.ID, h.key, "", nil, 405, CodeMethodNotAllowed},
		{"body on call", "POST", "/v1/enrollments/" + e.ID + "/call", h.key, `{"force":true}`, nil, 400, CodeUnknownField},
		{"issue unverified", "POST", "/v1/users/u-1/app-passwords", h.key, `{"name":"x","enrollment_id":"` + e.ID + `"}`, nil, 409, CodeNotVerified},
		{"issue other user", "POST", "/v1/users/u-2/app-passwords", h.key, `{"name":"x","enrollment_id":"` + e.ID + `"}`, nil, 422, CodeEnrollmentMismatch},
		{"issue no name", "POST", "/v1/users/u-1/app-passwords", h.key, `{"enrollment_id":"` + e.ID + `"}`, nil, 422, CodeInvalidField},
		{"claim unverified", "POST", "/v1/enrollments/" + e.ID + "/app-password", link.Token, ``, nil, 409, CodeNotVerified},
		{"check too long", "POST", "/v1/app-passwords/check", h.key, `{"user":"u","password":"` + strings.Repeat("a", 300) + `"}`, nil, 422, CodeInvalidField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			hdr := append([]string{"X-Request-ID", "bad id with spaces"}, tc.hdr...)
			r := h.do(tc.method, tc.path, tc.auth, body, hdr...)
			want(t, r, tc.status, tc.code)
			var eb errorBody
			r.decode(t, &eb)
			if eb.Error.Message == "" || eb.Error.MessageEN == "" {
				t.Errorf("messages missing: %s", r.body)
			}
			for k, v := range map[string]string{
				"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
				"Content-Type": "application/json; charset=utf-8",
			} {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if id := r.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") || len(id) > MaxRequestIDLen {
				t.Errorf("X-Request-ID %q: a bad one must be replaced", id)
			}
			if tc.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.status == 405 && r.Header.Get("Allow") != "GET" {
				t.Errorf("Allow %q", r.Header.Get("Allow"))
			}
		})
	}
	// Phone errors carry the enroll package's messages, in both languages.
	r := h.do("POST", create, h.key, `{"user_id":"u","phone":"0990-123-456"}`)
	var eb errorBody
	r.decode(t, &eb)
	if !strings.Contains(eb.Error.Message, "0990") || !strings.Contains(eb.Error.MessageEN, "Premium-rate") {
		t.Errorf("premium-rate messages %+v", eb.Error)
	}
	// A long request ID is replaced, a good one kept.
	r = h.do("GET", "/healthz", "", nil, "X-Request-ID", strings.Repeat("a", 65))
	if got := r.Header.Get("X-Request-ID"); got == strings.Repeat("a", 65) || got == "" {
		t.Errorf("request ID %q", got)
	}
	// Nothing was stored by the refused requests: only the one enrollment
	// (its audit trail shows only its creation).
	evs, err := h.st.ListAudit(t.Context(), e.ID)
	if err != nil || len(evs) != 1 {
		t.Errorf("audit %v %v", evs, err)
	}
	if got := h.dialer.Calls(); len(got) != 0 {
		t.Errorf("calls placed: %v", got)
	}
}

// Of many concurrent starts of the same call exactly one gets 202; the
// others get 409 already_calling, and one call is placed.
func TestConcurrentStart(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	e, _ := h.create("u-1", "03-1234-5678")
	const n = 12
	var wg sync.WaitGroup
	statuses := make(chan response, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			statuses <- h.do("POST", "/v1/enrollments/"+e.ID+"/call", h.key, nil)
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	accepted := 0
	for r := range statuses {
		switch r.StatusCode {
		case 202:
			accepted++
		case 409:
			if r.errCode() != CodeAlreadyCalling {
				t.Errorf("409 with %q", r.errCode())
			}
		default:
			t.Errorf("status %d %s", r.StatusCode, r.body)
		}
	}
	if accepted != 1 {
		t.Errorf("%d starts accepted, want 1", accepted)
	}
	h.waitState(e.ID, enroll.StateVerified)
	if got := h.dialer.Calls(); len(got) != 1 {
		t.Errorf("%d calls placed, want 1", len(got))
	}
	// Verified: calling again is the wrong state.
	r := h.do("POST", "/v1/enrollments/"+e.ID+"/call", h.key, nil)
	want(t, r, 409, CodeInvalidState)
}

// Call limits answer 429 with Retry-After; a blocked number 403.
func TestLimitsAndBlocks(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: enroll.Limits{PerNumber: 1}})
	h.dialer.Fail(enroll.OutcomeBusy, nil)
	e1, _ := h.create("u-1", "03-1234-5678")
	want(t, h.do("POST", "/v1/enrollments/"+e1.ID+"/call", h.key, nil), 202, "")
	got := h.waitState(e1.ID, enroll.StateFailed)
	if got.Outcome != enroll.OutcomeBusy || got.Final {
		t.Fatalf("after busy: %+v", got)
	}
	r := h.do("POST", "/v1/enrollments/"+e1.ID+"/call", h.key, nil)
	want(t, r, 429, CodeRateLimited)
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}

	// A fraud report blocks the number for every later enrollment.
	answerVerified(h.dialer, "0#")
	e2, _ := h.create("u-2", "090-1111-2222")
	want(t, h.do("POST", "/v1/enrollments/"+e2.ID+"/call", h.key, nil), 202, "")
	got = h.waitState(e2.ID, enroll.StateFailed)
	if got.Outcome != enroll.OutcomeFraudReported || !got.Final {
		t.Fatalf("after 0#: %+v", got)
	}
	want(t, h.do("POST", "/v1/enrollments/"+e2.ID+"/call", h.key, nil), 409, CodeInvalidState)
	r = h.do("POST", "/v1/enrollments", h.key, map[string]string{"user_id": "u-3", "phone": "+81 90-1111-2222"})
	want(t, r, 403, CodeNumberBlocked)
}

// Failed app-password checks are limited per user and per client
// address: a client that fails is stopped for that user, while the user
// from their own address still gets in; a check without client_ip counts
// under the user's limit.
func TestCheckRateLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: enroll.Limits{Checks: enroll.CheckLimits{PerSourceUser: 3, PerUser: 5}}})
	plain := h.issue("u-1")
	check := func(user, password, clientIP string) response {
		body := map[string]string{"user": user, "password": password}
		if clientIP != "" {
			body["client_ip"] = clientIP
		}
		return h.do("POST", "/v1/app-passwords/check", h.key, body)
	}
	for range 3 {
		want(t, check("u-1", "abcdabcdabcdabcd", "198.51.100.7"), 200, "")
	}
	r := check("u-1", "abcdabcdabcdabcd", "198.51.100.7")
	want(t, r, 429, CodeRateLimited)
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	var res checkResponse
	r = check("u-1", plain, "203.0.113.5")
	want(t, r, 200, "")
	if r.decode(t, &res); !res.Valid {
		t.Error("the user from their own address was refused")
	}
	// Another user is not limited.
	want(t, check("u-2", "abcdabcdabcdabcd", "198.51.100.7"), 200, "")
	// Without client_ip: the user's limit (5, three failures used).
	for range 2 {
		want(t, check("u-1", "abcdabcdabcdabcd", ""), 200, "")
	}
	want(t, check("u-1", "abcdabcdabcdabcd", ""), 429, CodeRateLimited)
	want(t, check("u-1", "abcdabcdabcdabcd", "not-an-ip"), 422, CodeInvalidField)
}

// Thirty concurrent wrong checks from one address, limit ten: ten are
// evaluated (200, valid false), twenty refused (429) before any hash.
func TestCheckConcurrentLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: enroll.Limits{Checks: enroll.CheckLimits{PerSourceUser: 10}}})
	h.issue("u-1")
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			r := h.do("POST", "/v1/app-passwords/check", h.key,
				map[string]string{"user": "u-1", "password": "abcdabcdabcdabcd", "client_ip": "198.51.100.7"})
			mu.Lock()
			statuses[r.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[200] != 10 || statuses[429] != 20 {
		t.Fatalf("statuses %v; want 10 × 200, 20 × 429", statuses)
	}
}

// At most 40 active app passwords per user.
func TestAppPasswordCap(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	now := enroll.Now(time.Now())
	for range enroll.MaxAppPasswordsPerUser {
		p := enroll.AppPassword{ID: enroll.NewID(), UserID: "u-1", Name: "x", Hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", CreatedAt: now}
		if err := h.st.CreateAppPassword(t.Context(), p, enroll.MaxAppPasswordsPerUser); err != nil {
			t.Fatal(err)
		}
	}
	e, _ := h.create("u-1", "03-1234-5678")
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/call", h.key, nil), 202, "")
	h.waitState(e.ID, enroll.StateVerified)
	r := h.do("POST", "/v1/users/u-1/app-passwords", h.key, map[string]string{"name": "41st", "enrollment_id": e.ID})
	want(t, r, 409, CodeAppPasswordLimit)
	// The enrollment is still verified: revoking one lets the issue through.
	if got := h.waitState(e.ID, enroll.StateVerified); got.State != enroll.StateVerified {
		t.Fatal(got.State)
	}
	r = h.do("GET", "/v1/users/u-1/app-passwords", h.key, nil)
	var list listResponse
	r.decode(t, &list)
	want(t, h.do("DELETE", "/v1/users/u-1/app-passwords/"+list.AppPasswords[0].ID, h.key, nil), 204, "")
	want(t, h.do("POST", "/v1/users/u-1/app-passwords", h.key, map[string]string{"name": "41st", "enrollment_id": e.ID}), 201, "")
}

func TestHealth(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	want(t, h.do("GET", "/healthz", "", nil), 200, "")
	want(t, h.do("GET", "/readyz", "", nil), 200, "")
	want(t, h.do("POST", "/readyz", "", nil), 405, CodeMethodNotAllowed)
	h.st.Close()
	want(t, h.do("GET", "/readyz", "", nil), http.StatusServiceUnavailable, CodeUnavailable)
}
