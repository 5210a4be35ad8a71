package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The package dependency direction (docs/design-notes.md, "Packages"), enforced.
// Each rule names why it exists; a failure prints the offending import path.

type layerRule struct {
	pkg string // denwa package (and its subpackages, unless only)
	// only: the rule covers pkg alone, not its subpackages.
	only bool
	// directForbidden: imports the package's own files may not name.
	directForbidden []string
	// transitiveForbidden: packages that may not appear anywhere in its dependencies
	// (a prefix ending in "/" matches a whole tree).
	transitiveForbidden []string
	// thirdParty: the only non-standard, non-denwa modules it may import directly
	// (nil means any; an empty slice means none).
	thirdParty []string
	reason     string
}

var layerRules = []layerRule{
	{
		pkg:                 "denwa/dtmf",
		only:                true,
		directForbidden:     []string{"os", "time", "sync", "log/slog"},
		transitiveForbidden: []string{"net", "net/http", "github.com/emiago/", "github.com/pion/", "denwa/"},
		thirdParty:          []string{},
		reason:              "dtmf is pure signal processing: no I/O, no wall clock, no locks, no denwa or network dependency",
	},
	{
		pkg:                 "denwa/dtmf/dtmftest",
		directForbidden:     []string{"os", "time", "sync", "log/slog"},
		transitiveForbidden: []string{"net", "net/http", "github.com/emiago/", "github.com/pion/", "denwa/"},
		thirdParty:          []string{},
		reason:              "dtmftest synthesizes test signals: pure math like dtmf, which it does not even import",
	},
	{
		pkg:                 "denwa/dtmf/testplan",
		directForbidden:     []string{"os", "time", "sync", "log/slog"},
		transitiveForbidden: []string{"net", "net/http", "github.com/emiago/", "github.com/pion/", "denwa/audio", "denwa/media", "denwa/sip", "denwa/enroll", "denwa/cmd"},
		thirdParty:          []string{},
		reason:              "testplan is the DTMF bench's vocabulary over dtmf and dtmftest only: plans, synthesis, matching and reports, with no network, clock or call layer, so the sender, the far end and the offline runner share it",
	},
	{
		pkg:                 "denwa/audio",
		directForbidden:     []string{"os"},
		transitiveForbidden: []string{"net", "github.com/emiago/", "github.com/pion/", "denwa/media", "denwa/sip", "denwa/enroll"},
		thirdParty:          []string{"github.com/zaf/g711"},
		reason:              "audio is sample math and prompts: it takes an fs.FS, never a network or the media layer",
	},
	{
		pkg:                 "denwa/media",
		transitiveForbidden: []string{"github.com/emiago/", "denwa/sip", "denwa/enroll", "net/http"},
		reason:              "media carries RTP below SIP: it must not know SIP, enrollment or HTTP",
	},
	{
		pkg:                 "denwa/media",
		only:                true,
		transitiveForbidden: []string{"github.com/gopacket/", "denwa/media/capture"},
		reason:              "offline tools stay out of the live path: every call loads media, so reading captures (gopacket) belongs to media/capture",
	},
	{
		pkg:        "denwa/media/capture",
		thirdParty: []string{"github.com/gopacket/gopacket", "github.com/pion/rtp"},
		reason:     "capture is offline analysis: it reads pcap files with gopacket and feeds media's Receiver; it may import media, never the other way round",
	},
	{
		// sipgo itself pulls in net/http (for its WebSocket transport), so
		// the HTTP rule is on sip's own imports.
		pkg:                 "denwa/sip",
		directForbidden:     []string{"net/http"},
		transitiveForbidden: []string{"denwa/enroll"},
		reason:              "sip is the call layer: it implements enroll's interfaces through cmd's adapter, never by importing enroll, and serves no HTTP",
	},
	{
		pkg:                 "denwa/enroll",
		transitiveForbidden: []string{"github.com/emiago/", "github.com/pion/rtp", "github.com/zaf/g711", "denwa/sip", "denwa/media", "denwa/audio"},
		reason:              "enroll is the service and its policy, written against its own Dialer/Line/Store interfaces",
	},
	{
		pkg:                 "denwa/cmd/denwa/internal/config",
		transitiveForbidden: []string{"github.com/spf13/cobra", "denwa/enroll/store/", "denwa/enroll/httpapi", "denwa/enroll/webui"},
		thirdParty:          []string{"github.com/spf13/pflag"},
		reason:              "config turns defaults, a file, the environment and flags into the packages' structs: it binds flags but runs no command, opens no store and serves no HTTP",
	},
}

func goList(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e"}, args...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	res := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			res[f[0]] = f[1:]
		}
	}
	return res
}

func matches(path, pattern string) bool {
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(path, pattern)
	}
	return path == pattern || strings.HasPrefix(path, pattern+"/") && pattern != "net"
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".") && first != "denwa"
}

func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("layering: the go command is not on PATH")
	}
	touchSources(t)
	direct := goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	deps := goList(t, "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...")
	if len(direct) == 0 {
		t.Fatal("go list found no packages")
	}
	for pkg, imports := range direct {
		for _, imp := range imports {
			if (imp == "denwa/cmd" || strings.HasPrefix(imp, "denwa/cmd/")) && !strings.HasPrefix(pkg, "denwa/cmd/") {
				t.Errorf("%s imports %s: nothing outside cmd imports cmd; it is the only wiring", pkg, imp)
			}
		}
	}
	for _, r := range layerRules {
		found := false
		for pkg := range direct {
			if pkg != r.pkg && (r.only || !strings.HasPrefix(pkg, r.pkg+"/")) {
				continue
			}
			found = true
			own := func(p string) bool { return p == pkg || p == r.pkg || !r.only && strings.HasPrefix(p, r.pkg+"/") }
			for _, imp := range direct[pkg] {
				for _, bad := range r.directForbidden {
					if imp == bad {
						t.Errorf("%s imports %s directly: %s", pkg, imp, r.reason)
					}
				}
				if r.thirdParty != nil && !isStd(imp) && !strings.HasPrefix(imp, "denwa/") {
					ok := false
					for _, allowed := range r.thirdParty {
						ok = ok || imp == allowed || strings.HasPrefix(imp, allowed+"/")
					}
					if !ok {
						t.Errorf("%s imports third-party %s (allowed: %v): %s", pkg, imp, r.thirdParty, r.reason)
					}
				}
			}
			for _, dep := range deps[pkg] {
				if own(dep) {
					continue
				}
				for _, bad := range r.transitiveForbidden {
					if matches(dep, bad) {
						t.Errorf("%s depends on %s (forbidden: %s): %s", pkg, dep, bad, r.reason)
					}
				}
			}
		}
		_ = found // packages that do not exist yet have nothing to check
	}
}

func TestLayeringMatcher(t *testing.T) {
	cases := []struct {
		path, pattern string
		want          bool
	}{
		{"net", "net", true},
		{"net/netip", "net", false}, // netip is a value type, not networking
		{"net/http", "net/http", true},
		{"net/http/httptest", "net/http", true},
		{"github.com/pion/rtp", "github.com/pion/", true},
		{"denwa/media", "denwa/media", true},
		{"denwa/mediax", "denwa/media", false},
		{"denwa/media/mediatest", "denwa/media", true},
		{"github.com/gopacket/gopacket/pcapgo", "github.com/gopacket/", true},
	}
	for _, c := range cases {
		if got := matches(c.path, c.pattern); got != c.want {
			t.Errorf("matches(%q, %q) = %v, want %v", c.path, c.pattern, got, c.want)
		}
	}
}

// touchSources stats every Go file and go.mod so that go test's cache, which
// records the files a test looks at, reruns this test when any of them changes
// (the imports themselves are read by a go list subprocess it cannot see).
func touchSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") || d.Name() == "go.mod" {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
