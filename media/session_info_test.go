package media

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
)

// TestSessionOutOfBandKey: a key that came as SIP INFO goes through the
// stream's merger, so a press the far end sends as INFO and also as
// RFC 4733 or in-band gives one key, whichever comes first; alone, it is
// a key with source sip-info and Began at its arrival.
func TestSessionOutOfBandKey(t *testing.T) {
	const press = 100 * time.Millisecond
	for _, tc := range []struct {
		name string
		mode KeyMode
		// infoAt is when the INFO comes, from the start of the press;
		// negative: before it.
		infoAt time.Duration
		want   string
	}{
		{"rfc4733, INFO during the press", RFC4733, 40 * time.Millisecond, "#rfc4733"},
		{"rfc4733, INFO first", RFC4733, -20 * time.Millisecond, "#sip-info"},
		{"rfc4733, INFO at key-up", RFC4733, press + 20*time.Millisecond, "#rfc4733"},
		{"in-band, INFO at key-down", Inband, 0, "#sip-info"},
		{"in-band, INFO at key-up", Inband, press + 20*time.Millisecond, "#inband"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := sessionPair(t, KindPCMU, 101)
				defer a.Close()
				defer b.Close()
				time.Sleep(200 * time.Millisecond)
				sent := make(chan error, 1)
				if tc.infoAt < 0 {
					if err := a.OutOfBandKey('#', dtmf.SourceSIPInfo, press); err != nil {
						t.Fatal(err)
					}
					time.Sleep(-tc.infoAt)
				}
				go func() { sent <- b.SendKey(t.Context(), '#', tc.mode, press) }()
				if tc.infoAt >= 0 {
					time.Sleep(tc.infoAt)
					if err := a.OutOfBandKey('#', dtmf.SourceSIPInfo, press); err != nil {
						t.Fatal(err)
					}
				}
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second)
				got := collectKeys(a)
				if len(got) != 1 || got[0].Key.String()+got[0].Source.String() != tc.want {
					t.Fatalf("keys %v, want one %s", got, tc.want)
				}
			})
		})
	}
}

func TestSessionOutOfBandKeyAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := sessionPair(t, KindPCMU, 101)
		defer b.Close()
		time.Sleep(300 * time.Millisecond)
		at := time.Now()
		if err := a.OutOfBandKey('5', dtmf.SourceSIPInfo, 250*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := a.OutOfBandKey('x', dtmf.SourceSIPInfo, 0); !errors.Is(err, dtmf.ErrInvalidKey) {
			t.Fatalf("invalid key: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := a.OutOfBandKey('5', dtmf.SourceSIPInfo, 0); err != nil {
			t.Fatal(err)
		}
		got := collectKeys(a)
		if len(got) != 2 || got[0].Key != '5' || got[0].Source != dtmf.SourceSIPInfo || !got[0].Began.Equal(at) ||
			got[0].Duration() != 2000 || got[0].At <= 0 || got[1].Start <= got[0].Start {
			t.Fatalf("keys %+v, want two 5 sip-info, the first began at %v lasting 2000 samples", got, at)
		}
		a.Close()
		if err := a.OutOfBandKey('5', dtmf.SourceSIPInfo, 0); !errors.Is(err, ErrSessionClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})
}
