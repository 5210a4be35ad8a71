package sip

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"

	"denwa/audio"
	"denwa/media"
)

func digitPrompts(t *testing.T) (*audio.Catalog, [10]*audio.Prompt) {
	t.Helper()
	cat, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds [10]*audio.Prompt
	for d := range ds {
		if ds[d], err = cat.Get(audio.PromptDigit(d)); err != nil {
			t.Fatal(err)
		}
	}
	return cat, ds
}

// TestPhoneHearsCode: the Dialer reads out a code with the digit prompts
// between other speech, as challenge mode does; the Phone, told only the
// digit prompts, hears it and presses it, then #.
func TestPhoneHearsCode(t *testing.T) {
	cat, digits := digitPrompts(t)
	for _, tc := range []struct {
		name  string
		codec media.PayloadKind
		mode  KeyMode
		code  string
		keys  string
		want  string
	}{
		{"pcmu-rfc4733", media.KindPCMU, KeyRFC4733, "407", "{code}#", "407#"},
		{"pcma-inband-analog", media.KindPCMA, KeyInband, "773", "*{code}#", "*773#"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			phone, calls := newTestPhone(t, PhoneConfig{Keys: tc.keys, KeyMode: tc.mode, Digits: digits,
				KeyDelay: 100 * time.Millisecond, Codecs: []media.PayloadKind{tc.codec}})
			d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			keys := newKeys()
			call, err := d.Dial(ctx, "+81312345678", nil, keys)
			if err != nil {
				t.Fatal(err)
			}
			defer call.Hangup(context.WithoutCancel(ctx))
			codec := audio.PCMU
			if call.Codec() == media.KindPCMA {
				codec = audio.PCMA
			}
			play := func(name string) {
				p, err := cat.Get(name)
				if err != nil {
					t.Fatal(err)
				}
				if err := call.Play(ctx, p.Frames(codec)); err != nil {
					t.Fatalf("play %s: %v", name, err)
				}
			}
			play(audio.PromptChallengeRepeat) // speech before: no code in it
			for _, c := range tc.code {
				play(audio.PromptDigit(int(c - '0')))
			}
			play(audio.PromptChallengeEnd)
			if got := collectKeys(call, keys, len(tc.want), 10*time.Second); got != tc.want {
				t.Errorf("keys %q, want %q", got, tc.want)
			}
			call.Hangup(ctx)
			if pc := waitPhone(t, calls); pc.KeysSent != tc.want {
				t.Errorf("phone sent %q", pc.KeysSent)
			}
		})
	}
}

// TestEarDigits feeds the ear frames directly: repeated digits, a few
// frames lost, a code ended by quiet rather than speech, and speech that
// is no digit.
func TestEarDigits(t *testing.T) {
	cat, digits := digitPrompts(t)
	ef, err := newEarFrames(digits)
	if err != nil {
		t.Fatal(err)
	}
	e := newEar(ef, media.KindPCMU)
	var seq uint16
	send := func(f []byte) {
		seq++
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: f}
		b, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		e.hear(b)
	}
	prompt := func(name string, drop int) {
		p, _ := cat.Get(name)
		for i, f := range p.Frames(audio.PCMU) {
			if drop > 0 && i%drop == 1 {
				continue
			}
			send(f)
		}
	}
	silence := make([]byte, 160)
	for i := range silence {
		silence[i] = 0xFF
	}
	prompt(audio.PromptGreeting, 0)
	if e.count() != 0 {
		t.Fatalf("heard %v in the greeting", e.codes)
	}
	for _, d := range []int{5, 5, 0} {
		prompt(audio.PromptDigit(d), 4) // a frame in four lost
		send(silence)
	}
	for range earQuietEnd {
		send(silence)
	}
	prompt(audio.PromptChallengeRepeat, 0)
	for _, d := range []int{9, 1, 2, 6} {
		prompt(audio.PromptDigit(d), 0)
	}
	prompt(audio.PromptChallengeEnd, 0)
	ctx := t.Context()
	if code, n, err := e.codeAfter(ctx, 0); err != nil || n != 2 || code != "9126" {
		t.Errorf("codeAfter(0) = %q, %d, %v; codes %q", code, n, err, e.codes)
	}
	if len(e.codes) != 2 || e.codes[0] != "550" {
		t.Errorf("codes %q, want 550 9126", e.codes)
	}
}

// TestEarFramesEnglish: the English digit prompts are told apart too.
func TestEarFramesEnglish(t *testing.T) {
	cat, _ := digitPrompts(t)
	var ds [10]*audio.Prompt
	for d := range ds {
		ds[d], _ = cat.Get(audio.LangName(audio.LangEnglish, audio.PromptDigit(d)))
	}
	if _, err := newEarFrames(ds); err != nil {
		t.Fatal(err)
	}
}

func TestPhoneCodeKeysNeedDigits(t *testing.T) {
	if _, err := NewPhone(PhoneConfig{Keys: "{code}#"}); err == nil {
		t.Error("{code} without Digits accepted")
	}
	if _, err := NewPhone(PhoneConfig{Keys: "{cod}#"}); err == nil {
		t.Error("{cod} accepted")
	}
}
