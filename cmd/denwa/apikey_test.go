package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"denwa/enroll"
	"denwa/enroll/store/sqlite"
)

// apikey create --scope stores the key's scopes (default enroll), list
// shows them, an unknown scope is a usage error, and the store it creates
// is the owner's only.
func TestAPIKeyScopes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "denwa.db")
	crm, stderr, code := runCLI(t, "apikey", "create", "crm", "--store", db)
	if code != 0 || !strings.Contains(stderr, "with scopes enroll") {
		t.Fatalf("create without --scope: exit %d %s", code, stderr)
	}
	gw, _, code := runCLI(t, "apikey", "create", "mail-gateway", "--scope", "check", "--store", db)
	if code != 0 {
		t.Fatalf("create --scope check: exit %d", code)
	}
	if _, _, code := runCLI(t, "apikey", "create", "portal", "--scope", "enroll, admin", "--store", db); code != 0 {
		t.Fatalf("create --scope 'enroll, admin': exit %d", code)
	}
	for _, bad := range []string{"root", "", "enroll,,check"} {
		if _, stderr, code := runCLI(t, "apikey", "create", "x", "--scope", bad, "--store", db); code != 2 || !strings.Contains(stderr, "--scope") {
			t.Errorf("--scope %q: exit %d %s", bad, code, stderr)
		}
	}
	out, _, code := runCLI(t, "apikey", "list", "--store", db)
	if code != 0 || !strings.Contains(out, "SCOPES") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	for name, scopes := range map[string]string{"crm": "enroll", "mail-gateway": "check", "portal": "admin,enroll"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+` + scopes + `\s+\d{4}-`).MatchString(out) {
			t.Errorf("list does not show %s with %s:\n%s", name, scopes, out)
		}
	}
	if strings.Contains(out, strings.TrimSpace(crm)) || strings.Contains(out, strings.TrimSpace(gw)) {
		t.Errorf("list shows a key:\n%s", out)
	}

	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for key, want := range map[string]enroll.Scopes{crm: enroll.ScopeEnroll, gw: enroll.ScopeCheck} {
		hash, _ := enroll.APIKeyHash(strings.TrimSpace(key))
		if k, err := st.APIKeyByHash(context.Background(), hash); err != nil || k.Scopes != want {
			t.Errorf("stored key %+v, %v; want scopes %s", k, err, want)
		}
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("the store apikey created: %v %v, want mode 0600", fi.Mode(), err)
		}
	}
}
