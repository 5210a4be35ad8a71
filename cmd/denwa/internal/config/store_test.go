package config

import (
	"strings"
	"testing"
	"time"
)

// The store is a SQLite path or a PostgreSQL URL; a PostgreSQL store needs
// a node name and a shared link key, and never a password in the URL.
func TestStoreSettings(t *testing.T) {
	const pgURL = "postgres://denwa@db.example.com:5432/denwa?sslmode=verify-full"
	base := map[string]string{"DENWA_SIP_TRUNK": "sip:127.0.0.1:5060"}
	shared := map[string]string{"DENWA_LINK_KEY": testLinkKey}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // "" means accepted
	}{
		{"sqlite path", nil, []string{"--store", "/var/lib/denwa/denwa.db"}, ""},
		{"sqlite with a node", nil, []string{"--store", "./denwa.db", "--node", "a"}, ""},
		{"postgres", shared, []string{"--store", pgURL, "--node", "a"}, ""},
		{"postgresql scheme and lease", shared, []string{"--store", "postgresql:///denwa?host=/run/postgresql", "--node", "a", "--node-lease", "5s"}, ""},
		{"postgres without node", shared, []string{"--store", pgURL}, "calls.node: required with a PostgreSQL store"},
		{"postgres without link key", nil, []string{"--store", pgURL, "--node", "a"}, "link.key: required with a PostgreSQL store"},
		{"password in the URL", shared, []string{"--store", "postgres://denwa:hunter2@db.example.com/denwa", "--node", "a"}, "holds a password: give it in PGPASSWORD"},
		{"other URL", nil, []string{"--store", "mysql://db.example.com/denwa"}, "store.path: mysql://db.example.com/denwa: a SQLite file path, or a postgres://"},
		{"lease too short", nil, []string{"--node-lease", "500ms"}, "calls.node_lease: 500ms is outside 1s to 5m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for _, m := range []map[string]string{base, c.env} {
				for k, v := range m {
					env[k] = v
				}
			}
			cfg, _, err := loadConfig(t, nil, env, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			p, err := cfg.Check()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.Config.Calls.NodeLease <= 0 {
					t.Fatalf("node lease %v", time.Duration(p.Config.Calls.NodeLease))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error shows a secret: %v", err)
			}
		})
	}
	if d := DefaultServe(); time.Duration(d.Calls.NodeLease) != 15*time.Second {
		t.Errorf("default node lease %v", time.Duration(d.Calls.NodeLease))
	}
	for in, want := range map[string]string{
		"./denwa.db":                           "./denwa.db",
		"postgres://u:pw@h/db?sslmode=require": "postgres://u:xxxxx@h/db?sslmode=require",
	} {
		if got := RedactStore(in); got != want {
			t.Errorf("RedactStore(%q) = %q, want %q", in, got, want)
		}
	}
}
