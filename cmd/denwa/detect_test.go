package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"denwa/audio"
	"denwa/dtmf"
)

const capturesDir = "../../testdata/captures"

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// captures lists the capture files of testdata/captures (not their goldens).
func captures(t *testing.T) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(capturesDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range all {
		switch filepath.Ext(f) {
		case ".digits", ".keys", ".error", ".md":
			continue
		}
		files = append(files, f)
	}
	if len(files) < 10 {
		t.Fatalf("only %d captures in %s", len(files), capturesDir)
	}
	return files
}

// TestDetectGolden runs `denwa detect --format digits` on every shipped
// capture and compares with the keys that were sent (NAME.digits); captures
// that are not readable (NAME.error) must fail with exit code 2.
func TestDetectGolden(t *testing.T) {
	for _, f := range captures(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "detect", "--format", "digits", f)
			if _, err := os.Stat(f + ".error"); err == nil && !strings.Contains(f, "truncated") {
				if code != exitDetectBadInput || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, f) {
					t.Fatalf("unreadable capture: exit %d, stdout %q, stderr %q; want exit 2, one error line naming the file", code, stdout, stderr)
				}
				return
			}
			want, err := os.ReadFile(f + ".digits")
			if err != nil {
				t.Fatal(err)
			}
			if code != 0 || stdout != string(want) {
				t.Fatalf("exit %d\ngot:\n%s\nwant:\n%s\nstderr: %s", code, stdout, want, stderr)
			}
			truncated := strings.Contains(filepath.Base(f), "truncated")
			if truncated != (stderr != "") {
				t.Fatalf("stderr %q (truncated capture: %v)", stderr, truncated)
			}
			if truncated && (strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "warning")) {
				t.Fatalf("a capture cut short gets one warning line, got %q", stderr)
			}
		})
	}
}

type sentKey struct {
	stream  int
	seconds float64
	key     dtmf.Key
	mode    string
}

func readKeys(t *testing.T, name string) []sentKey {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []sentKey
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 4 {
			t.Fatalf("%s: bad line %q", name, line)
		}
		stream, err1 := strconv.Atoi(fs[0])
		sec, err2 := strconv.ParseFloat(fs[1], 64)
		if err1 != nil || err2 != nil || len(fs[2]) != 1 {
			t.Fatalf("%s: bad line %q", name, line)
		}
		keys = append(keys, sentKey{stream, sec, dtmf.Key(fs[2][0]), fs[3]})
	}
	return keys
}

// TestDetectTimesAndSources checks each key's place in its stream and its
// source against what was sent (NAME.keys): RFC 4733 keys to the packet, in-band
// keys within 20 ms of the tone's start, and a press sent both ways reported
// once, as rfc4733.
func TestDetectTimesAndSources(t *testing.T) {
	for _, f := range captures(t) {
		if _, err := os.Stat(f + ".error"); err == nil && !strings.Contains(f, "truncated") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := readKeys(t, f+".keys")
			res, err := detectFile(f, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			perStream := map[int][]detected{}
			for _, k := range res.keys {
				perStream[k.stream] = append(perStream[k.stream], k)
			}
			seen := map[int]int{}
			for _, w := range want {
				got := perStream[w.stream]
				i := seen[w.stream]
				seen[w.stream]++
				if i >= len(got) {
					t.Fatalf("stream %d: key %d (%s at %.3f s) not found", w.stream, i, w.key, w.seconds)
				}
				g := got[i]
				at := (g.at - res.streams[w.stream].offset).Seconds()
				src := g.key.Source.String()
				wantSrc := w.mode
				if wantSrc == "both" {
					wantSrc = "rfc4733"
				}
				tol := 0.001
				switch {
				case src == "inband" && strings.Contains(f, "lost-audio"):
					tol = 0.045 // a lost 20 ms packet at the tone's start is silence to the detector
				case src == "inband":
					tol = 0.020
				}
				if g.key.Key != w.key || src != wantSrc || math.Abs(at-w.seconds) > tol {
					t.Errorf("stream %d key %d: got %s %s at %.4f s, want %s %s at %.3f s (±%g)", w.stream, i, g.key.Key, src, at, w.key, wantSrc, w.seconds, tol)
				}
			}
			for s, got := range perStream {
				if len(got) != seen[s] {
					t.Errorf("stream %d: %d keys found, %d sent", s, len(got), seen[s])
				}
			}
		})
	}
}

func TestDetectExpect(t *testing.T) {
	f := filepath.Join(capturesDir, "sipp-inband-star-hash.pcap")
	cases := []struct {
		name, expect string
		extra        []string
		code         int
	}{
		{"match", "*#", nil, 0},
		{"lower-case keys", "*#", nil, 0},
		{"missing star", "#", nil, exitDetectMismatch},
		{"extra key", "*##", nil, exitDetectMismatch},
		{"nothing expected", "", nil, exitDetectMismatch},
		{"two calls in time order", "12#*0#", []string{filepath.Join(capturesDir, "sipp-two-calls.pcap")}, 0},
		{"one stream chosen", "*0#", []string{"--stream", "2", filepath.Join(capturesDir, "sipp-two-calls.pcap")}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"detect", "--expect", c.expect}
			if c.extra != nil {
				args = append(args, c.extra...)
			} else {
				args = append(args, f)
			}
			_, stderr, code := runCLI(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, stderr)
			}
			if code == exitDetectMismatch && !strings.Contains(stderr, "found") {
				t.Fatalf("a mismatch must say what was found: %q", stderr)
			}
		})
	}
	if _, stderr, code := runCLI(t, "detect", "--expect", "*x", f); code != exitDetectBadInput || !strings.Contains(stderr, "not a DTMF key") {
		t.Fatalf("bad --expect: exit %d, %q", code, stderr)
	}
}

func TestDetectStreamSelection(t *testing.T) {
	f := filepath.Join(capturesDir, "sipp-two-calls.pcap")
	all, _, code := runCLI(t, "detect", f)
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSpace(all), "\n")
	if len(lines) != 6 {
		t.Fatalf("want 6 keys, got:\n%s", all)
	}
	second := strings.Fields(lines[len(lines)-1])[3] // STREAM column of the last key
	ssrc, _, _ := strings.Cut(strings.TrimPrefix(second, "ssrc="), "/")
	for _, sel := range []string{"2", second, ssrc} {
		out, stderr, code := runCLI(t, "detect", "--format", "digits", "--stream", sel, f)
		if code != 0 || out != "*0#\n" {
			t.Errorf("--stream %s: exit %d, %q, %q", sel, code, out, stderr)
		}
	}
	if _, stderr, code := runCLI(t, "detect", "--stream", "7", f); code != exitDetectBadInput || !strings.Contains(stderr, "no stream") {
		t.Errorf("unknown stream: exit %d, %q", code, stderr)
	}
}

func TestDetectLineAndJSONFormats(t *testing.T) {
	f := filepath.Join(capturesDir, "sipp-rfc4733-hash.pcap")
	out, _, code := runCLI(t, "detect", f)
	if code != 0 {
		t.Fatal(code)
	}
	fs := strings.Fields(strings.TrimSpace(out))
	if len(fs) != 4 || fs[1] != "#" || fs[2] != "rfc4733" || !strings.HasPrefix(fs[3], "ssrc=0x") || !strings.Contains(fs[3], "->") {
		t.Fatalf("line format: %q", out)
	}
	if _, err := strconv.ParseFloat(fs[0], 64); err != nil {
		t.Fatalf("SECONDS column: %v", err)
	}
	out, _, code = runCLI(t, "detect", "--format", "json", f)
	if code != 0 {
		t.Fatal(code)
	}
	var j jsonKey
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if j.Key != "#" || j.Source != "rfc4733" || j.SSRC == nil || j.Src == "" || j.Dst == "" || j.Duration <= 0 || j.File != f {
		t.Fatalf("json: %+v", j)
	}
	if _, stderr, code := runCLI(t, "detect", "--format", "xml", f); code != exitDetectBadInput || stderr == "" {
		t.Fatalf("--format xml: exit %d %q", code, stderr)
	}
}

// writeKeys synthesizes keys as in-band tones: 100 ms each, 100 ms apart,
// starting at 200 ms, at −10 dBm0.
func writeKeys(keys string) []int16 {
	const press, gap, lead = 800, 800, 1600
	buf := make([]int16, lead+len(keys)*(press+gap)+lead)
	for i := range len(keys) {
		tone := dtmf.Tone{Key: dtmf.Key(keys[i]), Level: -10, Duration: press}
		tone.AddTo(buf[lead+i*(press+gap):], 0)
	}
	return buf
}

func TestDetectAudioFiles(t *testing.T) {
	dir := t.TempDir()
	samples := writeKeys("*0#")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var files []string
	for _, format := range []audio.Format{audio.FormatPCM16, audio.FormatULaw, audio.FormatALaw} {
		var b bytes.Buffer
		if err := audio.WriteWAV(&b, format, samples); err != nil {
			t.Fatal(err)
		}
		files = append(files, write("keys-"+format.String()+".wav", b.Bytes()))
	}
	ulaw := make([]byte, len(samples))
	audio.EncodeULawTo(ulaw, samples)
	files = append(files, write("keys.ulaw", ulaw))
	alaw := make([]byte, len(samples))
	audio.EncodeALawTo(alaw, samples)
	files = append(files, write("keys.alaw", alaw))
	for _, f := range files {
		out, stderr, code := runCLI(t, "detect", f)
		want := "0.200 * inband -\n0.400 0 inband -\n0.600 # inband -\n"
		if code != 0 || !sameKeyLines(out, want, 0.02) {
			t.Errorf("%s: exit %d\n%s\nwant\n%s\nstderr %s", filepath.Base(f), code, out, want, stderr)
		}
	}

	// A WAV cut short: the keys before the cut and one warning.
	var b bytes.Buffer
	audio.WriteWAV(&b, audio.FormatPCM16, samples)
	cut := write("cut.wav", b.Bytes()[:b.Len()*6/10])
	out, stderr, code := runCLI(t, "detect", "--format", "digits", cut)
	if code != 0 || out != "*0\n" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "warning") {
		t.Errorf("truncated WAV: exit %d, %q, %q", code, out, stderr)
	}

	// Files that are nothing denwa reads: one error line each, exit 2, and the
	// good file among them still reported.
	junk := write("notes.txt", []byte("this is not audio\n"))
	empty := write("empty.wav", nil)
	stereo := write("bad.wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x40\x1f\x00\x00\x00\x7d\x00\x00\x04\x00\x10\x00data\x00\x00\x00\x00"))
	out, stderr, code = runCLI(t, "detect", "--format", "digits", junk, files[0], empty, stereo, filepath.Join(dir, "missing.pcap"))
	if code != exitDetectBadInput || out != files[0]+": *0#\n" || strings.Count(stderr, "\n") != 4 {
		t.Errorf("bad files: exit %d\nstdout %q\nstderr %q", code, out, stderr)
	}
}

// sameKeyLines compares detect's line output, allowing tol seconds on times.
func sameKeyLines(got, want string, tol float64) bool {
	g, w := strings.Split(strings.TrimSpace(got), "\n"), strings.Split(strings.TrimSpace(want), "\n")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		gf, wf := strings.Fields(g[i]), strings.Fields(w[i])
		if len(gf) != 4 || strings.Join(gf[1:], " ") != strings.Join(wf[1:], " ") {
			return false
		}
		gs, err1 := strconv.ParseFloat(gf[0], 64)
		ws, err2 := strconv.ParseFloat(wf[0], 64)
		if err1 != nil || err2 != nil || math.Abs(gs-ws) > tol {
			return false
		}
	}
	return true
}

func TestDetectProgressOnlyOnTerminals(t *testing.T) {
	var b bytes.Buffer
	if p := startProgress(&b, "x", 1<<30); p != nil {
		t.Fatal("progress bar drawn on a non-terminal")
	}
	p := &progress{w: &b, name: "call.pcap", total: 100 << 20, quit: make(chan struct{})}
	p.done.Store(50 << 20)
	p.draw()
	if !strings.Contains(b.String(), " 50% 50/100 MB") {
		t.Fatalf("progress line %q", b.String())
	}
}
