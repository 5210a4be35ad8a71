package httpx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPickLanguage(t *testing.T) {
	for _, tc := range []struct {
		name, query, cookie, accept, want string
	}{
		{"default", "", "", "", "ja"},
		{"accept en", "", "", "en-US,en;q=0.9", "en"},
		{"accept ja over en by order", "", "", "ja,en", "ja"},
		{"accept by quality", "", "", "ja;q=0.5, en-GB;q=0.8", "en"},
		{"accept unknown only", "", "", "fr-FR,de", "ja"},
		{"odd quality is 0", "", "", "en;q=x, ja;q=0.1", "ja"},
		{"cookie over accept", "", "ja", "en", "ja"},
		{"bad cookie ignored", "", "xx", "en", "en"},
		{"query over cookie", "lang=en", "ja", "ja", "en"},
		{"bad query ignored", "lang=fr", "", "en", "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/?"+tc.query, nil)
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "lang", Value: tc.cookie})
			}
			if got := PickLanguage(r, "lang"); got != tc.want {
				t.Errorf("PickLanguage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, origin, site string
		want               bool
	}{
		{"nothing sent", "", "", true},
		{"same host", "http://example.test:8080", "same-origin", true},
		{"null origin", "null", "same-origin", true},
		{"other host", "http://evil.test", "", false},
		{"other port", "http://example.test:9090", "", false},
		{"cross-site fetch", "", "cross-site", false},
		{"garbage origin", "http://[::1", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://example.test:8080/x", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.site)
			}
			if got := SameOrigin(r); got != tc.want {
				t.Errorf("SameOrigin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequestIDs(t *testing.T) {
	a, b := NewRequestID(), NewRequestID()
	if a == b || !ValidRequestID(a) || len(a) != 16 {
		t.Fatalf("NewRequestID: %q, %q", a, b)
	}
	for _, bad := range []string{"", strings.Repeat("a", 65), "a b", "a/b", "ä"} {
		if ValidRequestID(bad) {
			t.Errorf("ValidRequestID(%q) = true", bad)
		}
	}
	if !TokenEqual("abc", "abc") || TokenEqual("abc", "abd") || TokenEqual("abc", "ab") {
		t.Error("TokenEqual")
	}
}

func TestSecurityHeaders(t *testing.T) {
	w := httptest.NewRecorder()
	SecurityHeaders(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	for k, want := range map[string]string{"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestErrorOf(t *testing.T) {
	cause := errors.New("disk on fire")
	e := ErrorOf(fmt.Errorf("wrapped: %w", &Error{Code: 404, Msg: "nothing here", Err: cause}), "oops")
	if e.Code != 404 || e.Msg != "nothing here" || !errors.Is(e, cause) || e.Level() != slog.LevelInfo {
		t.Errorf("a wrapped *Error: %+v", e)
	}
	e = ErrorOf(cause, "oops")
	if e.Code != 500 || e.Msg != "oops" || !errors.Is(e, cause) || e.Level() != slog.LevelError || strings.Contains(e.Msg, "fire") {
		t.Errorf("another error: %+v", e)
	}
}
