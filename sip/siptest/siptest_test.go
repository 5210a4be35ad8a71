package siptest_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"denwa/media"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest"
)

func TestPhoneAndRecorder(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	p := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 200 * time.Millisecond, RTPPortFirst: 45000, RTPPortLast: 45098, Logger: quiet})
	d, err := sip.NewDialer(sip.Config{Trunk: p.URI(), Bind: "127.0.0.1:0", RTPPortFirst: 45100, RTPPortLast: 45198, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var rec siptest.ProgressRecorder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := make(mediatest.KeyChan[media.Key], 16)
	call, err := d.Dial(ctx, "+81312345678", rec.Record, keys)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-keys:
		if k.Key != '#' {
			t.Errorf("key %v", k)
		}
	case <-time.After(5 * time.Second):
		t.Error("no key")
	}
	_ = call.Hangup(ctx)
	if pc := p.Next(t, 5*time.Second); pc.KeysSent != "#" {
		t.Errorf("phone %+v", pc)
	}
	if got := fmt.Sprint(rec.Kinds()); got != "[answered]" {
		t.Errorf("progress %s", got)
	}
}
