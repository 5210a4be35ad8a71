package enroll_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

// TestServiceChallenge runs challenge mode through the Service: a phone
// that presses the code it heard is verified, and the code is in no
// audit entry, webhook, enrollment or log line; a phone that presses #
// alone (a replayed greeting) fails wrong-input.
func TestServiceChallenge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		heard bool
		want  enroll.State
	}{
		{"code heard", true, enroll.StateVerified},
		{"hash alone", false, enroll.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			log, buf := quietLog()
			e.cfg.Dialogue.ChallengeDigits = 4
			e.cfg.Dialogue.Logger = log // the records that see keys
			var line *enrolltest.FakeLine
			e.dialer.AnswerWith(func(l *enrolltest.FakeLine) {
				line = l
				for _, p := range enroll.Prompts() {
					l.SetPromptLength(p, 20*time.Millisecond)
				}
				l.OnPlay(enroll.PromptChallengeRepeat, 0, 5*time.Millisecond, func() {
					if tc.heard {
						l.Press(l.LastCode() + "#")
					} else {
						l.Press("#")
					}
				})
			})
			s := e.service()
			ctx := t.Context()
			en := create(t, s, "user-1")
			if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
				t.Fatal(err)
			}
			got := waitState(t, s, en.ID, tc.want)
			if !tc.heard && got.Outcome != enroll.OutcomeWrongInput {
				t.Errorf("outcome %v, want wrong-input", got.Outcome)
			}
			evs, err := s.Audit(ctx, en.ID)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := e.st.ClaimOutbox(ctx, e.clock.Now(), time.Minute, 10)
			if err != nil || len(ms) != 1 {
				t.Fatalf("outbox %v, %v", ms, err)
			}
			var end enroll.AuditEvent
			for _, ev := range evs {
				if ev.Action == enroll.ActionCallEnd {
					end = ev
				}
			}
			want := "????#"
			if !tc.heard {
				want = "###"
			}
			if end.Keys != want {
				t.Errorf("audit keys %q, want %q", end.Keys, want)
			}
			var hook enroll.WebhookPayload
			if err := json.Unmarshal(ms[0].Payload, &hook); err != nil {
				t.Fatal(err)
			}
			// Every field that could carry keys; the rest (ids, times,
			// the phone number) is digits that may hold a code by chance.
			var fields []string
			for _, ev := range evs {
				fields = append(fields, ev.Keys, ev.Cause, ev.KeySource)
			}
			fields = append(fields, hook.Enrollment.Cause, hook.Enrollment.KeySource, got.Cause, got.KeySource)
			codes := line.Codes()
			if len(codes) == 0 {
				t.Fatal("no code read out")
			}
			for _, c := range codes {
				for _, f := range fields {
					if strings.Contains(f, c) {
						t.Errorf("code %s in %q (audit, webhook or enrollment)", c, f)
					}
				}
				if strings.Contains(buf.String(), c) {
					t.Errorf("code %s in the log:\n%s", c, buf.String())
				}
			}
		})
	}
}
