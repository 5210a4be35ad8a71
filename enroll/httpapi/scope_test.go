package httpapi

import (
	"slices"
	"strings"
	"testing"

	"denwa/enroll"
)

// Every route an API key may call needs one scope, named in routeScopes:
// each route × each single-scope key is either refused with 403
// insufficient_scope (naming the scope, never the key) or let through to
// the handler.
func TestScopes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	keys := map[enroll.Scopes]string{}
	for _, sc := range []enroll.Scopes{enroll.ScopeEnroll, enroll.ScopeCheck, enroll.ScopeAdmin} {
		keys[sc] = h.newKey("only-"+sc.String(), sc)
	}
	checked := 0
	for _, rt := range h.srv.routes {
		if rt.auth != authKey && rt.auth != authKeyOrLink {
			continue
		}
		route := rt.method + " " + rt.path
		need, ok := routeScopes[route]
		if !ok {
			t.Errorf("route %s takes API keys but has no scope in routeScopes", route)
			continue
		}
		path := strings.NewReplacer("{id}", "AAAAAAAAAAAAAAAAAAAAAA", "{user}", "u-1").Replace(rt.path)
		for sc, key := range keys {
			r := h.do(rt.method, path, key, nil)
			switch {
			case sc == need && (r.StatusCode == 401 || r.StatusCode == 403):
				t.Errorf("%s with a %s key: %d %s, want it let through", route, sc, r.StatusCode, r.errCode())
			case sc != need:
				if r.StatusCode != 403 || r.errCode() != CodeInsufficientScope {
					t.Errorf("%s with a %s key: %d %s, want 403 %s", route, sc, r.StatusCode, r.errCode(), CodeInsufficientScope)
				} else if !strings.Contains(string(r.body), "("+need.String()+")") || strings.Contains(string(r.body), key) {
					t.Errorf("%s: the 403 body %s should name scope %s and not the key", route, r.body, need)
				}
			}
			checked++
		}
		// A key with every scope passes everywhere.
		if r := h.do(rt.method, path, h.key, nil); r.StatusCode == 401 || r.StatusCode == 403 {
			t.Errorf("%s with every scope: %d %s", route, r.StatusCode, r.errCode())
		}
	}
	if checked < 27 {
		t.Fatalf("checked %d route × scope pairs, want at least 27", checked)
	}

	// The mail gateway's key checks passwords and cannot mint or list them.
	gw := keys[enroll.ScopeCheck]
	plain := h.issue("u-1")
	r := h.do("POST", "/v1/app-passwords/check", gw, map[string]string{"user": "u-1", "password": plain})
	want(t, r, 200, "")
	var res checkResponse
	if r.decode(t, &res); !res.Valid {
		t.Error("the gateway's check of a right password: not valid")
	}
	want(t, h.do("GET", "/v1/users/u-1/app-passwords", gw, nil), 403, CodeInsufficientScope)
	want(t, h.do("POST", "/v1/enrollments", gw, map[string]string{"user_id": "u-1", "phone": "03-1234-5678"}), 403, CodeInsufficientScope)
	// A link still works where links do: scopes are for keys.
	e, link := h.create("u-2", "03-1234-5678")
	want(t, h.do("GET", "/v1/enrollments/"+e.ID, link.Token, nil), 200, "")
}

// The OpenAPI document names each operation's scope and its 403.
func TestScopesDocumented(t *testing.T) {
	doc := openAPIDocument()
	for route, need := range routeScopes {
		method, path, _ := strings.Cut(route, " ")
		op := doc["paths"].(obj)[path].(obj)[strings.ToLower(method)].(obj)
		found := false
		for _, req := range op["security"].([]obj) {
			if sc, ok := req["apiKey"].([]string); ok {
				found = len(sc) == 1 && sc[0] == need.String()
			}
		}
		if !found {
			t.Errorf("%s: security %v, want apiKey [%s]", route, op["security"], need)
		}
		codes, _ := op["responses"].(obj)["403"].(obj)["x-error-codes"].([]string)
		if !slices.Contains(codes, CodeInsufficientScope) {
			t.Errorf("%s: 403 codes %v lack %s", route, codes, CodeInsufficientScope)
		}
	}
}

// A key route missing from routeScopes needs admin: the table fails
// closed.
func TestScopeOfUnknownRoute(t *testing.T) {
	if got := scopeOf("POST /v1/some-new-operator-route"); got != enroll.ScopeAdmin {
		t.Fatalf("scopeOf(unknown) = %s, want admin", got)
	}
	if err := requireScope("POST /v1/some-new-operator-route", enroll.ScopeEnroll|enroll.ScopeCheck); err == nil {
		t.Fatal("an enroll,check key passed an unlisted route")
	}
}
