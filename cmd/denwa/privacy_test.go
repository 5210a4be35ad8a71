package main

import (
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/sip"
	"denwa/sip/siptest"
)

// What denwa serve writes to its log (at debug level) through a whole
// flow, a verification call over SIP and RTP and the API around it: the
// phone number appears only masked (+81*****5678), and no secret (API
// keys, the link token, the app password, the SIP password) appears at
// all, nor in any error body. The store file is the owner's only.
func TestServeLogPrivacy(t *testing.T) {
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 300 * time.Millisecond, RTPPortFirst: 33080, RTPPortLast: 33099})
	ts := startServe(t, phone, nil)

	api := newAPIClient(ts, createTestKey(t, ts.store))
	var created struct {
		Enrollment apiEnrollment `json:"enrollment"`
		Link       struct {
			Token string `json:"token"`
		} `json:"link"`
	}
	api.do(t, "POST", "/v1/enrollments", `{"user_id":"u-1001","phone":"03-1234-5678","country":"JP","client_ip":"203.0.113.5"}`, http.StatusCreated, &created)
	e := created.Enrollment
	api.do(t, "POST", "/v1/enrollments/"+e.ID+"/call", "", http.StatusAccepted, nil)
	if got := api.follow(t, e.ID, 20*time.Second); got.State != "verified" {
		t.Fatalf("enrollment %+v\n%s", got, ts.log)
	}

	// The enroll key cannot issue app passwords: 403, and the body holds
	// no secret either.
	api.do(t, "POST", "/v1/users/u-1001/app-passwords", `{"name":"mail","enrollment_id":"`+e.ID+`"}`, http.StatusForbidden, nil)
	admin := newAPIClient(ts, createKeyWithScopes(t, ts, "portal", enroll.ScopeAdmin))
	var issued struct {
		Password string `json:"password"`
	}
	admin.do(t, "POST", "/v1/users/u-1001/app-passwords", `{"name":"mail","enrollment_id":"`+e.ID+`"}`, http.StatusCreated, &issued)
	gw := newAPIClient(ts, createKeyWithScopes(t, ts, "mail-gateway", enroll.ScopeCheck))
	for _, pw := range []string{issued.Password, "abcdabcdabcdabcd"} {
		body, _ := json.Marshal(map[string]string{"user": "u-1001", "password": pw, "client_ip": "203.0.113.5"})
		gw.do(t, "POST", "/v1/app-passwords/check", string(body), http.StatusOK, nil)
	}
	ts.stop(t, 15*time.Second)

	logs := ts.log.String()
	if !strings.Contains(logs, "+81*****5678") {
		t.Errorf("the log shows no masked number:\n%s", logs)
	}
	for name, s := range map[string]string{
		"the number": "+81312345678", "the national number": "0312345678", "the number's digits": "312345678",
		"the number as typed": "03-1234-5678", "the enroll key": api.key, "the admin key": admin.key,
		"the check key": gw.key, "the link token": created.Link.Token, "the app password": issued.Password,
		"the SIP password": testSIPPassword,
	} {
		if s == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %s", name)
		}
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(ts.db); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("store file mode %v (%v), want 0600", fi.Mode(), err)
		}
	}
}

// createKeyWithScopes stores an API key as `denwa apikey create --scope`
// does.
func createKeyWithScopes(t *testing.T, ts *testServe, name string, scopes enroll.Scopes) string {
	t.Helper()
	var out, errOut strings.Builder
	if err := createAPIKey(t.Context(), ts.store, &out, &errOut, name, scopes, time.Now()); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}
