package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"os"
	"path/filepath"
	"sync"
	"time"

	"denwa/dtmf/testplan"
	"denwa/sip"
)

// The far end of a DTMF test: `denwa phone --report` hears every key the
// caller sends, from all three sources, and hands what it heard back to
// `denwa dtmftest` in the dialog. The protocol (docs/dtmf.md):
//
//	dtmftest → phone   INFO, Content-Type: application/vnd.denwa.dtmf-report-request+json
//	                   {"request":"report","plan":"q24","cases":332,"from":0,"max_bytes":450}
//	phone → dtmftest   200 OK, Content-Type: application/vnd.denwa.dtmf-report+json
//	                   {"version":1,"call_id":"…","codec":"PCMU","total":287,"from":0,
//	                    "heard":[{"key":"5","source":"inband","at_ms":1520.125,
//	                    "delay_ms":0,"duration_ms":80}, …]}
//
// The report rides in the response to the caller's request: a response
// retraces the request's Via path hop by hop, so it crosses every proxy the
// request crossed and needs neither the caller's Contact to be reachable
// nor a route set the far end builds. A SIP message over UDP must stay
// under 1,300 bytes (RFC 3261 §18.1.1; sipgo refuses larger ones), so the
// report comes in pages: each response holds the keys from "from" on
// whose JSON fits in max_bytes (at least one), and dtmftest asks again
// from where the page ended until it has "total" keys. --report-file
// writes the whole object (with "final": true once the call has ended)
// for paths that drop in-dialog requests; dtmftest reads it with
// --far-report.

const (
	reportRequestType = "application/vnd.denwa.dtmf-report-request+json"
	reportType        = "application/vnd.denwa.dtmf-report+json"
	reportVersion     = 1
	// maxReportBytes and maxReportKeys bound a report: what a far end
	// hears of the largest plan (testplan.MaxCases) fits with room.
	maxReportBytes = 4 << 20
	maxReportKeys  = 4 * testplan.MaxCases
)

// farReport is what the far end heard in one call. AtMs of each key is
// from the far end's answer (the caller's ACK), the origin dtmftest's own
// timeline has (the 2xx); DelayMs is left 0.
type farReport struct {
	Version int    `json:"version"`
	CallID  string `json:"call_id"`
	Codec   string `json:"codec,omitempty"`
	// Final is set in a report written once the call has ended.
	Final bool `json:"final,omitempty"`
	// Dropped counts keys heard beyond maxReportKeys, not listed.
	Dropped int `json:"dropped,omitempty"`
	// Total is how many keys were heard; From is the index of Heard's
	// first: a page of the report (a file holds them all, from 0).
	Total int              `json:"total"`
	From  int              `json:"from"`
	Heard []testplan.Heard `json:"heard"`
}

// reportRequest is dtmftest's request for the report.
type reportRequest struct {
	Request string `json:"request"` // "report"
	Plan    string `json:"plan,omitempty"`
	Cases   int    `json:"cases,omitempty"`
	// From is the first key wanted; MaxBytes bounds the JSON of the keys
	// in the page (pageBytes when 0).
	From     int `json:"from"`
	MaxBytes int `json:"max_bytes,omitempty"`
}

// Page sizes: what fits a UDP response with the headers of a few proxies
// (through one Kamailio, 450 bytes of keys make a response of about 950
// bytes), and the most asked for.
const (
	pageBytes    = 450
	maxPageBytes = 60000
)

// errBadReport wraps every reason a report is refused.
var errBadReport = errors.New("far-end report")

// parseFarReport reads a far end's report, refusing anything but one
// well-formed object of this version within the limits: it is input from
// the network or a file another program wrote.
func parseFarReport(b []byte) (farReport, error) {
	bad := func(format string, args ...any) (farReport, error) {
		return farReport{}, fmt.Errorf("%w: "+format, append([]any{errBadReport}, args...)...)
	}
	if len(b) > maxReportBytes {
		return bad("%d bytes (at most %d)", len(b), maxReportBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r farReport
	if err := dec.Decode(&r); err != nil {
		return bad("%v", err)
	}
	if dec.More() {
		return bad("data after the report object")
	}
	switch {
	case r.Version != reportVersion:
		return bad("version %d (want %d)", r.Version, reportVersion)
	case r.Heard == nil:
		return bad("no heard list")
	case len(r.Heard) > maxReportKeys:
		return bad("%d keys (at most %d)", len(r.Heard), maxReportKeys)
	case r.Dropped < 0:
		return bad("dropped %d", r.Dropped)
	case r.From < 0 || r.Total > maxReportKeys || r.From+len(r.Heard) > r.Total:
		return bad("keys %d to %d of %d", r.From, r.From+len(r.Heard), r.Total)
	}
	const maxMs = float64(24 * time.Hour / time.Millisecond)
	for i, h := range r.Heard {
		if math.Abs(h.AtMs) > maxMs || h.DurationMs < 0 || h.DurationMs > maxMs || h.DelayMs != 0 {
			return bad("key %d: at_ms %v, duration_ms %v, delay_ms %v out of range", i, h.AtMs, h.DurationMs, h.DelayMs)
		}
	}
	return r, nil
}

// mediaType is a Content-Type's type/subtype, lower case ("" when
// unreadable).
func mediaType(ctype string) string {
	t, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return ""
	}
	return t
}

// reportHearing is the sip.Hearing of one call to `denwa phone --report`.
type reportHearing struct {
	file string          // --report-file; "" none
	done func(farReport) // takes the final report
	fail func(err error) // a report file that could not be written
	rep  farReport       // methods are called one at a time (sip.Hearing)
	once sync.Once
}

func newReportHearing(pc sip.PhoneCall, file string, done func(farReport), fail func(error)) *reportHearing {
	h := &reportHearing{file: file, done: done, fail: fail,
		rep: farReport{Version: reportVersion, CallID: pc.CallID, Heard: []testplan.Heard{}}}
	if pc.Codec != 0 {
		h.rep.Codec = pc.Codec.String()
	}
	return h
}

func (h *reportHearing) Key(k sip.HeardKey) {
	if len(h.rep.Heard) >= maxReportKeys {
		h.rep.Dropped++
		return
	}
	h.rep.Heard = append(h.rep.Heard, testplan.Heard{Key: k.Key, Source: k.Source,
		AtMs: durationMs(k.At), DurationMs: durationMs(k.Duration)})
}

// Request answers dtmftest's request for the report with it, and writes
// the report file as it stands.
func (h *reportHearing) Request(ctype string, body []byte) (int, string, []byte) {
	if mediaType(ctype) != reportRequestType {
		return 415, "", nil
	}
	var req reportRequest
	if len(body) > 64<<10 || json.Unmarshal(body, &req) != nil || req.Request != "report" ||
		req.From < 0 || req.From > len(h.rep.Heard) || req.MaxBytes < 0 {
		return 400, "", nil
	}
	if req.MaxBytes == 0 {
		req.MaxBytes = pageBytes
	}
	b, err := json.Marshal(h.page(req.From, min(req.MaxBytes, maxPageBytes)))
	if err != nil {
		return 500, "", nil
	}
	if req.From == 0 {
		h.write(h.whole())
	}
	return 200, reportType, b
}

// whole is the report with every key.
func (h *reportHearing) whole() farReport {
	r := h.rep
	r.Total = len(r.Heard)
	return r
}

// page is the report with the keys from from on whose JSON fits in max
// bytes, at least one (when there is one).
func (h *reportHearing) page(from, max int) farReport {
	r := h.whole()
	r.From = from
	n := 0
	for i, k := range r.Heard[from:] {
		b, _ := json.Marshal(k)
		if n += len(b) + 1; n > max && i > 0 {
			r.Heard = r.Heard[from : from+i]
			return r
		}
	}
	r.Heard = r.Heard[from:]
	return r
}

// End writes the final report and hands it over.
func (h *reportHearing) End() {
	h.once.Do(func() {
		h.rep.Final = true
		r := h.whole()
		h.write(r)
		h.done(r)
	})
}

// write writes the report file (when asked for) whole or not at all: a
// reader polling it never sees half of it.
func (h *reportHearing) write(r farReport) {
	if h.file == "" {
		return
	}
	if err := writeFileAtomic(h.file, r); err != nil {
		h.fail(err)
	}
}

func writeFileAtomic(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".report-*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func durationMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// phoneReports keeps each call's final report until runPhone prints it
// with the call's line.
type phoneReports struct {
	mu   sync.Mutex
	byID map[string]farReport
}

func (p *phoneReports) put(r farReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID == nil {
		p.byID = map[string]farReport{}
	}
	p.byID[r.CallID] = r
}

// fail returns the function that says on w that a report file could not
// be written; the calls' goroutines share w.
func (p *phoneReports) fail(w io.Writer) func(error) {
	return func(err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		fmt.Fprintf(w, "phone: report file not written: %v\n", err)
	}
}

func (p *phoneReports) take(callID string) (farReport, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.byID[callID]
	delete(p.byID, callID)
	return r, ok
}

// printFarReport prints what the far end heard, one key a line.
func printFarReport(w io.Writer, r farReport) {
	fmt.Fprintf(w, "  heard %d keys", len(r.Heard))
	if r.Dropped > 0 {
		fmt.Fprintf(w, " (%d more not listed)", r.Dropped)
	}
	fmt.Fprintln(w)
	for _, h := range r.Heard {
		fmt.Fprintf(w, "  %s %-8s at %9.1f ms  %6.1f ms\n", h.Key, h.Source, h.AtMs, h.DurationMs)
	}
}
