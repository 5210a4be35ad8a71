package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"denwa/sip"
)

// The dtmftest side of the far-end report protocol (phone_report.go):
// asking for it in the dialog, or reading the file the far end wrote.

// askReport asks the far end for what it heard, in the dialog, page by
// page (phone_report.go), waiting for each page at most wait; pageMax
// bounds each page's keys in bytes.
func askReport(ctx context.Context, call *sip.Call, plan string, cases, pageMax int, wait time.Duration) (farReport, error) {
	hint := " (is the far end denwa phone --report? On a path that drops in-dialog requests use its --report-file and --far-report)"
	var all farReport
	for {
		body, _ := json.Marshal(reportRequest{Request: "report", Plan: plan, Cases: cases, From: len(all.Heard), MaxBytes: pageMax})
		pctx, cancel := context.WithTimeout(ctx, wait)
		res, err := call.Request(pctx, "INFO", reportRequestType, body)
		cancel()
		if err != nil {
			return farReport{}, fmt.Errorf("%w%s", err, hint)
		}
		if res.Status != 200 {
			return farReport{}, fmt.Errorf("the request for it was answered %d %s%s", res.Status, res.Reason, hint)
		}
		if mediaType(res.ContentType) != reportType {
			return farReport{}, fmt.Errorf("the answer is %q, not %s%s", res.ContentType, reportType, hint)
		}
		page, err := parseFarReport(res.Body)
		if err != nil {
			return farReport{}, err
		}
		if page.From != len(all.Heard) {
			return farReport{}, fmt.Errorf("%w: asked for keys from %d, got a page from %d", errBadReport, len(all.Heard), page.From)
		}
		heard := append(all.Heard, page.Heard...)
		all, all.Heard = page, heard
		if len(all.Heard) >= page.Total {
			all.From, all.Total = 0, len(all.Heard)
			return all, nil
		}
		if len(page.Heard) == 0 {
			return farReport{}, fmt.Errorf("%w: an empty page at %d of %d keys", errBadReport, page.From, page.Total)
		}
	}
}

// readFarReport waits up to wait for the report file of our call (or, when
// a B2BUA changed the Call-ID, the final report of a call written after
// ours began) and reads it.
func readFarReport(ctx context.Context, name, callID string, since time.Time, wait time.Duration) (farReport, error) {
	deadline := time.Now().Add(wait)
	var last error
	for {
		if st, err := os.Stat(name); err != nil {
			last = err
		} else if st.Size() > maxReportBytes {
			return farReport{}, fmt.Errorf("%s: %w: larger than %d bytes", name, errBadReport, maxReportBytes)
		} else if b, err := os.ReadFile(name); err != nil {
			last = err
		} else if rep, err := parseFarReport(b); err != nil {
			return farReport{}, fmt.Errorf("%s: %w", name, err)
		} else if rep.Final && (rep.CallID == callID || st.ModTime().After(since)) {
			return rep, nil
		} else {
			last = fmt.Errorf("%s holds no final report of this call (call %q)", name, rep.CallID)
		}
		if time.Now().After(deadline) {
			return farReport{}, last
		}
		select {
		case <-ctx.Done():
			return farReport{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
