package console

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestNiceStep(t *testing.T) {
	for top, want := range map[int]int{0: 1, 1: 1, 5: 1, 6: 2, 10: 2, 11: 5, 25: 5, 26: 10, 50: 10, 51: 20, 999: 200, 1001: 500} {
		if got := niceStep(top); got != want {
			t.Errorf("niceStep(%d) = %d, want %d", top, got, want)
		}
	}
}

func TestChartLayout(t *testing.T) {
	c := chart{
		Labels: []string{"09:00", "10:00", "11:00"},
		Series: []series{
			{Name: "verified", Class: "o-verified", Values: []int{4, 0, 1}},
			{Name: "fraud", Class: "o-fraud-reported", Values: []int{2, 0}}, // short: the rest counts 0
		},
	}
	v := c.layout("c", "Outcomes")
	if v.Empty {
		t.Fatal("Empty with 7 calls")
	}
	// 4+2 = 6 is the highest bar: the axis goes to 6 in steps of 2.
	if len(v.YTicks) != 4 || v.YTicks[3].Label != "6" {
		t.Fatalf("y ticks %+v", v.YTicks)
	}
	if len(v.Segs) != 3 {
		t.Fatalf("segments %+v", v.Segs)
	}
	plot := float64(v.Bottom - padTop)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	verified, fraud, last := v.Segs[0], v.Segs[1], v.Segs[2]
	switch {
	case !near(verified.H, plot*4/6), !near(fraud.H, plot*2/6), !near(last.H, plot/6):
		t.Errorf("heights %v %v %v of %v", verified.H, fraud.H, last.H, plot)
	case !near(verified.Y+verified.H, float64(v.Bottom)), !near(fraud.Y+fraud.H, verified.Y):
		t.Errorf("not stacked: %+v %+v", verified, fraud)
	case verified.X != fraud.X || last.X <= verified.X:
		t.Errorf("x: %v %v %v", verified.X, fraud.X, last.X)
	case fraud.Title != "09:00 fraud: 2":
		t.Errorf("title %q", fraud.Title)
	}
	// Drawn: escaped labels, classes, no inline style.
	c.Labels[0] = `<script>x</script>`
	var buf bytes.Buffer
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	if err := pages["overview"].ExecuteTemplate(&buf, "chart", c.layout("c", "Outcomes")); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`<svg viewBox="0 0 720 220" role="img" aria-labelledby="c-t"`, `class="o-fraud-reported"`, "&lt;script&gt;"} {
		if !strings.Contains(out, want) {
			t.Errorf("svg lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "<script>") || strings.Contains(out, "style=") {
		t.Errorf("svg has a script or a style:\n%s", out)
	}
}

func TestChartEmpty(t *testing.T) {
	v := chart{Labels: []string{"a", "b"}, Series: nil}.layout("c", "t")
	if !v.Empty || len(v.Segs) != 0 || len(v.YTicks) != 2 {
		t.Errorf("%+v", v)
	}
	if v := (chart{}).layout("c", "t"); !v.Empty {
		t.Error("no buckets: not empty")
	}
}

// At most 12 labels under the bars, however many buckets.
func TestChartLabelsThinned(t *testing.T) {
	c := chart{Labels: make([]string, 48)}
	if n := len(c.layout("c", "t").XTicks); n > 12 || n < 8 {
		t.Errorf("%d labels for 48 buckets", n)
	}
}

func TestFailures(t *testing.T) {
	f := newFailures(2, time.Minute)
	f.cap = 2
	t0 := time.Unix(1000, 0)
	f.fail("a", t0)
	f.fail("a", t0)
	if f.allowed("a", t0.Add(59*time.Second)) {
		t.Error("a allowed after 2 failures")
	}
	if !f.allowed("a", t0.Add(time.Minute)) {
		t.Error("a refused in a new window")
	}
	// a was forgotten; b and c fill it.
	f.fail("b", t0.Add(time.Minute))
	f.fail("c", t0.Add(61*time.Second))
	if f.allowed("z", t0.Add(62*time.Second)) {
		t.Errorf("a new address allowed with %d of %d remembered, none expired", len(f.seen), f.cap)
	}
	f.fail("z", t0.Add(62*time.Second)) // not remembered: full
	if len(f.seen) != 2 {
		t.Errorf("%d remembered, cap 2", len(f.seen))
	}
	if !f.allowed("z", t0.Add(2*time.Minute)) {
		t.Error("z refused after b's window ended")
	}
}

func TestNextPage(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "/console/",
		"/console/fraud":                    "/console/fraud",
		"/console/enrollments?state=failed": "/console/enrollments?state=failed",
		"/console/signin":                   "/console/",
		"https://evil.example/console/":     "/console/",
		"//evil.example/console/":           "/console/",
		"/console/../metrics":               "/console/",
		"/metrics":                          "/console/",
		"/console/\r\nX: y":                 "/console/",
	} {
		if got := nextPage(in); got != want {
			t.Errorf("nextPage(%q) = %q, want %q", in, got, want)
		}
	}
}
