package sip

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestDialPlanRewrite(t *testing.T) {
	japan := DialPlan{{Match: "+81", Strip: 3, Prepend: "0"}}
	outside := DialPlan{{Match: "+81", Strip: 3, Prepend: "00"}, {Match: "+", Strip: 1, Prepend: "0010"}}
	prefixAll := DialPlan{{Prepend: "0"}}
	cases := []struct {
		name   string
		plan   DialPlan
		number string
		want   string
		err    bool
	}{
		{"none", nil, "+81312345678", "+81312345678", false},
		{"japan", japan, "+81312345678", "0312345678", false},
		{"japan-mobile", japan, "+819012345678", "09012345678", false},
		{"japan-other-country", japan, "+14155550100", "+14155550100", false},
		{"outside-line", outside, "+81312345678", "00312345678", false},
		{"outside-international", outside, "+14155550100", "001014155550100", false},
		{"first-rule-wins", DialPlan{{Match: "+8190", Strip: 3, Prepend: "X"}, {Match: "+81", Strip: 3, Prepend: "0"}}, "+819012345678", "", true},
		{"prefix-all", prefixAll, "+81312345678", "0+81312345678", true},
		{"formatting", japan, "+81 3-1234-5678", "0312345678", false},
		{"letters", japan, "+81abc", "", true},
		{"injection", japan, "+81312345678@evil", "", true},
		{"empty", japan, "", "", true},
		{"plus-only", japan, "+", "", true},
		{"strip-everything", DialPlan{{Match: "+81", Strip: 12}}, "+81312345678", "", true},
		{"too-long", nil, "+" + "1234567890123456789012345678901234", "", true},
		{"domestic-digits", DialPlan{{Match: "0", Prepend: "0"}}, "0312345678", "00312345678", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.plan.Rewrite(tc.number)
			if tc.err {
				if !errors.Is(err, ErrBadNumber) {
					t.Errorf("Rewrite(%q) = %q, %v; want ErrBadNumber", tc.number, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Rewrite(%q) = %q, %v; want %q", tc.number, got, err, tc.want)
			}
		})
	}
}

func TestDialPlanValidate(t *testing.T) {
	bad := []DialPlan{
		{{Match: "+81", Strip: -1}},
		{{Match: "+81", Strip: 4}},
		{{Match: "+81", Prepend: "0@x"}},
		{{Match: "a"}},
	}
	for i, p := range bad {
		if err := p.validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%d: %v valid", i, p)
		}
	}
	if err := (DialPlan{{Match: "+81", Strip: 3, Prepend: "0"}, {Prepend: "0"}}).validate(); err != nil {
		t.Error(err)
	}
}

func TestKindOf(t *testing.T) {
	cases := map[int]FailureKind{
		486: Busy, 600: Busy, 603: Rejected, 403: Failed,
		404: Unreachable, 480: Unreachable, 484: Unreachable, 500: Unreachable, 503: Unreachable, 504: Unreachable, 604: Unreachable,
		487: NoAnswer, 408: NoAnswer, 488: NoCommonCodec, 606: NoCommonCodec,
		400: Failed, 401: Failed, 407: Failed, 415: Failed, 302: Failed, 699: Failed,
	}
	for st, want := range cases {
		if got := KindOf(st); got != want {
			t.Errorf("KindOf(%d) = %v, want %v", st, got, want)
		}
	}
}

func TestFailureKindString(t *testing.T) {
	want := map[FailureKind]string{FailureUnknown: "unknown", Busy: "busy", Rejected: "rejected", Unreachable: "unreachable",
		NoAnswer: "no-answer", NoCommonCodec: "no-common-codec", Failed: "failed", 200: "FailureKind(200)"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("%d: %q want %q", k, k.String(), s)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	cases := map[string]time.Duration{
		"120": 120 * time.Second, " 18000;duration=3600": 5 * time.Hour, "30 (lunch)": 30 * time.Second,
		"": 0, "abc": 0, "-5": 0, "99999999999999": 24 * time.Hour, "90000": 24 * time.Hour,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCallErrorFormat(t *testing.T) {
	e := &CallError{Kind: Unreachable, Status: 503, Reason: "Service Unavailable", RetryAfter: 30 * time.Second}
	if got := e.Error(); got != "sip: call unreachable (503 Service Unavailable) retry after 30s" {
		t.Errorf("got %q", got)
	}
	e2 := &CallError{Kind: Failed, Err: ErrAuthFailed}
	if !errors.Is(e2, ErrAuthFailed) {
		t.Error("Unwrap")
	}
}
