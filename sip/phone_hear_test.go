package sip_test

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/sip"
	"denwa/sip/siptest"
)

// hearRecorder is a Hearing that records what it was given.
type hearRecorder struct {
	mu    sync.Mutex
	keys  []sip.HeardKey
	asked []string
	ended chan struct{}
}

func (h *hearRecorder) Key(k sip.HeardKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys = append(h.keys, k)
}

func (h *hearRecorder) Request(ctype string, body []byte) (int, string, []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, ctype+" "+string(body))
	return 202, "text/plain", []byte("heard so far")
}

func (h *hearRecorder) End() { close(h.ended) }

// TestPhoneHears: a listening Phone hears a caller's RFC 4733 event, its
// in-band tone and its SIP INFO key, each with its length, in the order
// sent (by their times), and answers an INFO of another type with the Hearing's status
// and body (Call.Request returns them); End comes once the call is over.
func TestPhoneHears(t *testing.T) {
	rec := &hearRecorder{ended: make(chan struct{})}
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "", Hear: func(sip.PhoneCall) sip.Hearing { return rec }})
	_, call, _ := dialKeys(t, phone.URI())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	time.Sleep(100 * time.Millisecond)                                      // a little audio first
	evs, err := dtmf.GenerateEvent(nil, '5', 0, 800, dtmf.EventGenConfig{}) // 100 ms
	if err != nil {
		t.Fatal(err)
	}
	if err := call.SendEvents(ctx, 0, evs); err != nil {
		t.Fatal(err)
	}
	tone := dtmf.Tone{Key: '9', Level: -10, Duration: 480, Gap: 800} // 60 ms, then 100 ms of silence
	pcm := make([]int16, (tone.Len()+audio.FrameSamples-1)/audio.FrameSamples*audio.FrameSamples)
	tone.AddTo(pcm, 0)
	frames := make([][]byte, len(pcm)/audio.FrameSamples)
	for i := range frames {
		frames[i] = make([]byte, audio.FrameSamples)
		audio.EncodeULawTo(frames[i], pcm[i*audio.FrameSamples:(i+1)*audio.FrameSamples])
	}
	if err := call.Play(ctx, frames); err != nil {
		t.Fatal(err)
	}
	body, _ := dtmf.AppendDTMFRelay(nil, '#', 320) // 40 ms
	if res, err := call.Request(ctx, "INFO", dtmf.InfoDTMFRelay.String(), body); err != nil || res.Status != 200 {
		t.Fatalf("INFO key: %+v %v", res, err)
	}
	res, err := call.Request(ctx, "INFO", "application/x-test", []byte("how many?"))
	if err != nil || res.Status != 202 || res.ContentType != "text/plain" || string(res.Body) != "heard so far" {
		t.Fatalf("INFO of another type: %+v %v", res, err)
	}
	if _, err := call.Request(ctx, "OPTIONS", "", nil); err == nil {
		t.Error("Request sent an OPTIONS")
	}
	time.Sleep(200 * time.Millisecond) // the tone's end heard, past the merger's hold
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.ended:
	case <-ctx.Done():
		t.Fatal("no End")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []struct {
		key dtmf.Key
		src dtmf.Source
		dur time.Duration
	}{
		{'5', dtmf.SourceRFC4733, 100 * time.Millisecond},
		{'9', dtmf.SourceInband, 60 * time.Millisecond},
		{'#', dtmf.SourceSIPInfo, 40 * time.Millisecond},
	}
	if len(rec.keys) != len(want) {
		t.Fatalf("heard %+v", rec.keys)
	}
	// In the order they began (an in-band key becomes certain once its
	// tone ended and the merger's hold passed: after the INFO's).
	slices.SortFunc(rec.keys, func(a, b sip.HeardKey) int { return cmp.Compare(a.At, b.At) })
	for i, w := range want {
		k := rec.keys[i]
		if k.Key != w.key || k.Source != w.src || k.Duration < w.dur-6*time.Millisecond || k.Duration > w.dur+6*time.Millisecond || k.At <= 0 ||
			i > 0 && k.At <= rec.keys[i-1].At {
			t.Errorf("key %d: %+v, want %c from %s lasting %v, after the one before", i, k, w.key, w.src, w.dur)
		}
	}
	if len(rec.asked) != 1 || rec.asked[0] != "application/x-test how many?" {
		t.Errorf("asked %q", rec.asked)
	}
}
