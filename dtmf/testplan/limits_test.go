package testplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// eachBuiltin runs f on every built-in plan, as a subtest named after it.
func eachBuiltin(t *testing.T, f func(t *testing.T, p Plan)) {
	for _, name := range BuiltinNames() {
		p, _ := Builtin(name)
		t.Run(name, func(t *testing.T) { f(t, p) })
	}
}

// readsBack fails t unless p, written as a plan file, reads back the same.
func readsBack(t *testing.T, p Plan) {
	t.Helper()
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("written plan does not read back: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("written plan reads back differently:\n%s", out)
	}
}

// TestParseBuiltinsRoundTrip: every built-in plan validates, and written
// as a plan file it reads back the same.
func TestParseBuiltinsRoundTrip(t *testing.T) {
	eachBuiltin(t, func(t *testing.T, p Plan) {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		readsBack(t, p)
	})
	if _, ok := Builtin("nope"); ok {
		t.Error("Builtin(nope) found a plan")
	}
}

const okCase = `{"id":"a","mode":"inband","key":"5","expect":"detect","duration_ms":40,"gap_ms":40,"inband":{"low_dbm0":-10,"high_dbm0":-10}}`

func planWith(cases ...string) string {
	return `{"name":"t","cases":[` + strings.Join(cases, ",") + `]}`
}

func TestParseErrors(t *testing.T) {
	many := make([]string, MaxCases+1)
	for i := range many {
		many[i] = strings.Replace(okCase, `"id":"a"`, `"id":"a`+strconv.Itoa(i)+`"`, 1)
	}
	long := make([]string, 200)
	for i := range long {
		long[i] = `{"id":"l` + strconv.Itoa(i) + `","mode":"rfc4733","key":"1","expect":"detect","duration_ms":10000,"gap_ms":0}`
	}
	rc := func(r string) string {
		return planWith(`{"id":"r","mode":"rfc4733","key":"1","expect":"detect","duration_ms":100,"gap_ms":0,"rfc4733":` + r + `}`)
	}
	in := func(f string) string { return planWith(strings.Replace(okCase, `"low_dbm0":-10`, f, 1)) }
	for _, tc := range []struct {
		name, file, want string
	}{
		{"empty", ``, "EOF"},
		{"not json", `name: q24`, "invalid character"},
		{"not utf-8", "{\"name\":\"\xff\"}", "UTF-8"},
		{"unknown field", `{"name":"t","cases":[],"extra":1}`, "unknown field"},
		{"trailing data", planWith(okCase) + `{}`, "data after"},
		{"no name", `{"cases":[` + okCase + `]}`, "no name"},
		{"control in name", `{"name":"a\u0007","cases":[` + okCase + `]}`, "printable"},
		{"no cases", `{"name":"t","cases":[]}`, "no cases"},
		{"too many cases", planWith(many...), "at most 5000"},
		{"too long together", planWith(long...), "last 2000 s together"},
		{"duplicate id", planWith(okCase, okCase), `id "a" already used by case 1`},
		{"no id", planWith(strings.Replace(okCase, `"id":"a"`, `"id":""`, 1)), "case id"},
		{"bad key", planWith(strings.Replace(okCase, `"key":"5"`, `"key":"55"`, 1)), `key "55"`},
		{"key E", planWith(strings.Replace(okCase, `"key":"5"`, `"key":"E"`, 1)), `key "E"`},
		{"bad mode", planWith(strings.Replace(okCase, `"mode":"inband"`, `"mode":"fax"`, 1)), `mode "fax"`},
		{"bad expect", planWith(strings.Replace(okCase, `"expect":"detect"`, `"expect":"maybe"`, 1)), `expect "maybe"`},
		{"negative duration", planWith(strings.Replace(okCase, `"duration_ms":40`, `"duration_ms":-1`, 1)), "duration_ms -1"},
		{"duration too long", planWith(strings.Replace(okCase, `"duration_ms":40`, `"duration_ms":10001`, 1)), "duration_ms 10001"},
		{"duration overflow", planWith(strings.Replace(okCase, `"duration_ms":40`, `"duration_ms":1e30`, 1)), "cannot unmarshal"},
		{"gap too long", planWith(strings.Replace(okCase, `"gap_ms":40`, `"gap_ms":99999`, 1)), "gap_ms 99999"},
		{"in-band duration 0", planWith(strings.Replace(okCase, `"duration_ms":40`, `"duration_ms":0`, 1)), "duration_ms 0"},
		{"level too high", in(`"low_dbm0":10`), "tone levels 10/-10"},
		{"level too low", in(`"low_dbm0":-200`), "tone levels -200/-10"},
		{"offset", in(`"low_dbm0":-10,"high_dev_pct":25`), "frequency offsets"},
		{"break", in(`"low_dbm0":-10,"break_ms":5000`), "break_ms 5000"},
		{"snr", in(`"low_dbm0":-10,"snr_db":1000`), "snr_db 1000"},
		{"dial tone", in(`"low_dbm0":-10,"dial_tone":"uk"`), `dial_tone "uk"`},
		{"dial level alone", in(`"low_dbm0":-10,"dial_tone_dbm0":-20`), "without dial_tone"},
		{"wrong spec", planWith(strings.Replace(okCase, `"mode":"inband"`, `"mode":"sip-info"`, 1)), "only the sip-info spec"},
		{"volume", rc(`{"volume":64}`), "volume 64"},
		{"pt", rc(`{"pt":128}`), "pt 128"},
		{"interval", rc(`{"interval_ms":1}`), "interval_ms 1"},
		{"repeats", rc(`{"end_repeats":1000}`), "end_repeats 1000"},
		{"nothing sent", rc(`{"end_only":true,"ends_lost":true}`), "sends nothing"},
		{"bad format", planWith(`{"id":"s","mode":"sip-info","key":"1","expect":"detect","duration_ms":0,"gap_ms":0,"sip_info":{"format":"text/plain"}}`), `format "text/plain"`},
		{"code in dtmf", planWith(`{"id":"s","mode":"sip-info","key":"1","expect":"detect","duration_ms":0,"gap_ms":0,"sip_info":{"format":"application/dtmf","signal_code":true}}`), "signal_code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.file))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if !errors.Is(err, ErrPlan) && tc.name != "empty" {
				t.Errorf("error %q does not wrap ErrPlan", err)
			}
		})
	}

	big := strings.NewReader(`{"name":"t","cases":[` + strings.Repeat(" ", MaxFileBytes) + `]}`)
	if _, err := Parse(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file over the limit: %v", err)
	}
}

// FuzzParse: no input makes Parse panic, and a plan it accepts validates,
// runs, and reads back the same once written.
func FuzzParse(f *testing.F) {
	for _, name := range BuiltinNames() {
		p, _ := Builtin(name)
		p.Cases = p.Cases[:min(len(p.Cases), 6)]
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	f.Add([]byte(planWith(okCase)))
	f.Add([]byte(planWith(`{"id":"r","mode":"rfc4733","key":"#","expect":"either","duration_ms":0,"gap_ms":0,"rfc4733":{"end_only":true,"end_repeats":1}}`)))
	f.Add([]byte(planWith(`{"id":"s","mode":"sip-info","key":"*","expect":"reject","duration_ms":0,"gap_ms":5,"sip_info":{"format":"application/dtmf-relay","signal_code":true}}`)))
	f.Add([]byte(`{"name":"x","cases":[{"id":"n","mode":"inband","key":"D","expect":"detect","duration_ms":1,"gap_ms":0,"inband":{"low_dbm0":3.17,"high_dbm0":-90,"snr_db":-20,"dial_tone":"itu","dial_tone_dbm0":3.17,"break_ms":1}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a plan Validate refuses: %v", err)
		}
		readsBack(t, p)
		// Keep the run short: synthesis of a few seconds at most.
		total := 0
		for i := range p.Cases {
			total += p.Cases[i].SpanMs()
		}
		if total <= 5000 {
			if _, err := Run(p, RunConfig{}); err != nil {
				t.Fatalf("Run of a valid plan: %v", err)
			}
		}
	})
}

func TestLoad(t *testing.T) {
	files := fstest.MapFS{
		"mine.json": {Data: []byte(planWith(okCase))},
		"bad.json":  {Data: []byte(`{"name":"x"}`)},
	}
	open := func(name string) (io.ReadCloser, error) { return files.Open(name) }
	if p, err := Load("q24", open); err != nil || p.Name != "q24" {
		t.Errorf("q24: %v %v", p.Name, err)
	}
	if p, err := Load("mine.json", open); err != nil || p.Name != "t" || len(p.Cases) != 1 {
		t.Errorf("mine.json: %+v %v", p, err)
	}
	if _, err := Load("bad.json", open); err == nil || !strings.HasPrefix(err.Error(), "bad.json: ") || !errors.Is(err, ErrPlan) {
		t.Errorf("bad.json: %v", err)
	}
	if _, err := Load("q25", open); err == nil || !strings.Contains(err.Error(), "no built-in plan (japan, q24, quick)") {
		t.Errorf("q25: %v", err)
	}
}
