//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends. Without the right to mount it skips, or fails
// under DENWA_REQUIRE_INTEROP=1.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		mediatest.RequireInterop(t, "cannot mount a tmpfs for the full-disk test (%v): run as root, or under `unshare -rm`", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the test's tmpfs %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fill writes zeros to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// waitFor polls what every 20 ms until it returns "", failing with its
// last answer after within.
func waitFor(t *testing.T, within time.Duration, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := what()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get returns the status and body of a GET.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The store's disk fills while five calls ring: every call is verified,
// its result waits in memory, /readyz answers 503 naming the store, the
// enrollments take no second call. Once the disk has room again each
// result, its audit entry and its webhook are stored exactly once and
// /readyz answers 200, with no restart.
func TestServeFullDisk(t *testing.T) {
	dir := mountTmpfs(t, 4<<20)
	// The phone rings 2 s before answering: time enough to fill the disk
	// after the five calls started (the test checks that they all still
	// ring when it is full).
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", RingFor: 2 * time.Second, KeyDelay: 300 * time.Millisecond,
		RTPPortFirst: 33240, RTPPortLast: 33259})
	ts := startServe(t, phone, func(c *config.Serve) { c.Store.Path = filepath.Join(dir, "denwa.db") })
	base := "http://" + ts.HTTPAddr()
	api := newAPIClient(ts, createTestKey(t, ts.store))
	var ids []string
	for i := 1; i <= 5; i++ {
		var created struct {
			Enrollment apiEnrollment `json:"enrollment"`
		}
		api.do(t, "POST", "/v1/enrollments", fmt.Sprintf(`{"user_id":"u-%d","phone":"03-1234-567%d","country":"JP"}`, i, i), http.StatusCreated, &created)
		api.do(t, "POST", "/v1/enrollments/"+created.Enrollment.ID+"/call", "", http.StatusAccepted, nil)
		ids = append(ids, created.Enrollment.ID)
	}

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	for _, id := range ids {
		var e apiEnrollment
		api.do(t, "GET", "/v1/enrollments/"+id, "", http.StatusOK, &e)
		if e.State != "calling" {
			t.Fatalf("%s ended (%s) before the disk was full: the machine is too slow for RingFor", id, e.State)
		}
	}

	// The calls end and are verified; the store refuses their results.
	waitFor(t, 30*time.Second, func() string {
		code, body := get(t, base+"/readyz")
		if code == 503 && strings.Contains(body, "store writes: 5 call results wait to be recorded") && strings.Contains(body, "full") {
			return ""
		}
		return fmt.Sprintf("/readyz %d %s", code, body)
	})
	if code, body := get(t, "http://"+ts.OpsAddr()+"/metrics"); code != 200 || !strings.Contains(body, "denwa_call_results_pending 5") {
		t.Fatalf("/metrics %d:\n%s", code, body)
	}
	for _, id := range ids {
		var e apiEnrollment
		api.do(t, "GET", "/v1/enrollments/"+id, "", http.StatusOK, &e)
		if e.State != "calling" {
			t.Fatalf("%s while its result waits: %+v", id, e)
		}
		var refusal struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		api.do(t, "POST", "/v1/enrollments/"+id+"/call", "", http.StatusConflict, &refusal)
		if refusal.Error.Code != "already_calling" {
			t.Fatalf("a second call while the result waits: %+v", refusal)
		}
	}
	if !strings.Contains(ts.log.String(), "database or disk is full") {
		t.Fatalf("the log does not show the store's refusal:\n%s", ts.log)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got := api.follow(t, id, 30*time.Second); got.State != "verified" || got.Outcome != "verified" {
			t.Fatalf("%s after the disk has room: %+v\n%s", id, got, ts.log)
		}
	}
	waitFor(t, 30*time.Second, func() string {
		if code, body := get(t, base+"/readyz"); code != 200 {
			return fmt.Sprintf("/readyz %d %s", code, body)
		}
		return ""
	})

	ctx := context.Background()
	ms, err := ts.store.ClaimOutbox(ctx, time.Now().Add(time.Hour), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	hooks := map[string]int{}
	for _, m := range ms {
		if m.Event == enroll.EventVerified {
			hooks[m.EnrollmentID]++
		}
	}
	for _, id := range ids {
		evs, err := ts.store.ListAudit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		ends := 0
		for _, ev := range evs {
			if ev.Action == enroll.ActionCallEnd {
				ends++
			}
		}
		if ends != 1 || hooks[id] != 1 {
			t.Errorf("%s: %d call.end audit entries and %d verified webhooks, want 1 and 1", id, ends, hooks[id])
		}
	}
	if len(ms) != len(ids) {
		t.Errorf("%d webhooks queued, want %d", len(ms), len(ids))
	}
	// The service takes new calls without a restart.
	var e apiEnrollment
	api.do(t, "POST", "/v1/enrollments", `{"user_id":"u-6","phone":"03-1234-5676","country":"JP"}`, http.StatusCreated, &struct {
		Enrollment *apiEnrollment `json:"enrollment"`
	}{&e})
	api.do(t, "POST", "/v1/enrollments/"+e.ID+"/call", "", http.StatusAccepted, nil)
	if got := api.follow(t, e.ID, 30*time.Second); got.State != "verified" {
		t.Fatalf("a call after the disk has room: %+v", got)
	}
	ts.stop(t, 20*time.Second)
}
