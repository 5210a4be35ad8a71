package main

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/dtmf/testplan"
	"denwa/media"
	"denwa/sip"
)

// FuzzParseFarReport: a far end's report is input from the network. Any
// bytes give a report or an error wrapping errBadReport, never a panic;
// a report read back is within the limits and writes itself out again as
// the same report.
func FuzzParseFarReport(f *testing.F) {
	good, _ := json.Marshal(farReport{Version: reportVersion, CallID: "c", Codec: "PCMU", Total: 2, From: 0, Heard: []testplan.Heard{
		{Key: '5', Source: dtmf.SourceInband, AtMs: 1520.125, DurationMs: 80},
		{Key: '#', Source: dtmf.SourceSIPInfo, AtMs: 2000, DurationMs: 0},
	}})
	for _, s := range []string{
		string(good),
		`{"version":1,"call_id":"x","total":0,"from":0,"heard":[]}`,
		`{"version":1,"call_id":"x","total":3,"from":1,"heard":[{"key":"D","source":"rfc4733","at_ms":-5,"delay_ms":0,"duration_ms":40}]}`,
		`{"version":1,"heard":[`,
		`{"version":1,"call_id":"x","total":1,"from":0,"heard":[{"key":"X","source":"inband","at_ms":1}]}`,
		`{"version":1,"call_id":"x","total":1,"from":0,"heard":[{"key":"1","source":"smoke","at_ms":1}]}`,
		`{"version":1,"call_id":"x","total":1,"from":0,"heard":[{"key":"1","source":"inband","at_ms":1e300}]}`,
		`{"version":1,"call_id":"x","total":-1,"from":0,"heard":[]}`,
		`{"version":1,"call_id":"x","total":0,"from":0,"heard":[],"extra":1}`,
		`{"version":1,"call_id":"x","total":0,"from":0,"heard":null}`,
		`{"version":1,"call_id":"x","total":0,"from":0,"heard":[]} {}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseFarReport(b)
		if err != nil {
			if !errors.Is(err, errBadReport) {
				t.Fatalf("error %v does not wrap errBadReport", err)
			}
			return
		}
		if r.Version != reportVersion || r.From < 0 || r.From+len(r.Heard) > r.Total || r.Total > maxReportKeys {
			t.Fatalf("accepted %+v", r)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseFarReport(out)
		if err != nil || len(again.Heard) != len(r.Heard) || again.Total != r.Total {
			t.Fatalf("%s → %s: %v", b, out, err)
		}
		for i := range r.Heard {
			if again.Heard[i].Key != r.Heard[i].Key || again.Heard[i].Source != r.Heard[i].Source {
				t.Fatalf("key %d: %+v then %+v", i, r.Heard[i], again.Heard[i])
			}
		}
	})
}

// TestReportHearingPages: the report is handed out in pages that fit the
// size asked for, at least one key each, and together hold every key in
// order; a request of another type is refused 415, a malformed one 400.
func TestReportHearingPages(t *testing.T) {
	var final farReport
	h := newReportHearing(sip.PhoneCall{CallID: "call-1", Codec: media.KindPCMA}, "", func(r farReport) { final = r }, func(err error) { t.Error(err) })
	const n = 100
	for i := range n {
		h.Key(sip.HeardKey{Key: dtmf.Keys[i%16], Source: dtmf.SourceRFC4733, At: time.Duration(i) * 160 * time.Millisecond, Duration: 100 * time.Millisecond})
	}
	var got []testplan.Heard
	for pages := 0; len(got) < n; pages++ {
		if pages > n {
			t.Fatal("no end of pages")
		}
		body, _ := json.Marshal(reportRequest{Request: "report", From: len(got), MaxBytes: 300})
		status, ctype, res := h.Request(reportRequestType+"; charset=utf-8", body)
		if status != 200 || ctype != reportType {
			t.Fatalf("status %d %q", status, ctype)
		}
		page, err := parseFarReport(res)
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := json.Marshal(page.Heard)
		if page.From != len(got) || page.Total != n || len(page.Heard) == 0 || len(page.Heard) > 1 && len(keys) > 300+2 || page.CallID != "call-1" || page.Codec != "PCMA" {
			t.Fatalf("page from %d: %d keys, %d bytes of keys, %+v", len(got), len(page.Heard), len(keys), page)
		}
		got = append(got, page.Heard...)
	}
	for i, k := range got {
		if k.Key != dtmf.Keys[i%16] || k.AtMs != float64(i*160) || k.DurationMs != 100 {
			t.Fatalf("key %d: %+v", i, k)
		}
	}
	if status, _, _ := h.Request("application/json", []byte(`{"request":"report"}`)); status != 415 {
		t.Errorf("another type: %d", status)
	}
	for _, body := range []string{`{`, `{"request":"other"}`, `{"request":"report","from":101}`, `{"request":"report","from":-1}`} {
		if status, _, _ := h.Request(reportRequestType, []byte(body)); status != 400 {
			t.Errorf("%s: %d", body, status)
		}
	}
	h.End()
	if !final.Final || final.Total != n || len(final.Heard) != n {
		t.Errorf("final report: %+v", final)
	}
}
