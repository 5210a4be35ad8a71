package enrolltest_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

func TestFakeLinePlay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := enrolltest.NewFakeLine()
		defer l.Close()
		l.SetPromptLength(enroll.PromptGreeting, 3*time.Second)
		if err := l.Play(t.Context(), enroll.PromptGreeting); err != nil {
			t.Fatal(err)
		}
		if err := l.Play(t.Context(), enroll.PromptSuccess); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := l.Play(ctx, enroll.PromptGoodbye); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled Play = %v", err)
		}
		want := []enrolltest.Play{
			{Prompt: enroll.PromptGreeting, Start: 0, End: 3 * time.Second},
			{Prompt: enroll.PromptSuccess, Start: 3 * time.Second, End: 3*time.Second + enrolltest.DefaultPromptLength},
			{Prompt: enroll.PromptGoodbye, Start: 7 * time.Second, End: 8 * time.Second, Interrupted: true, Err: context.DeadlineExceeded},
		}
		got := l.Plays()
		if len(got) != len(want) {
			t.Fatalf("Plays() = %v", got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("play %d = %v (%v), want %v (%v)", i, got[i], got[i].Err, want[i], want[i].Err)
			}
		}
		if l.Overlapped() || l.Playing() != 0 {
			t.Error("overlap or Play in progress")
		}
	})
}

func TestFakeLineScript(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := enrolltest.NewFakeLine()
		defer l.Close()
		start := time.Now()
		boom := errors.New("boom")
		l.FailPlay(enroll.PromptWrongKey, 2, boom)
		l.SetPromptLength(enroll.PromptFraud, 10*time.Second)
		l.OnPlay(enroll.PromptGreeting, 2, time.Second, func() { l.PressFrom(dtmf.SourceInband, "*") })
		l.OnPlay(enroll.PromptGreeting, 0, 2*time.Second, func() { l.Press("#") })
		l.HangUpAt(20 * time.Second)

		ctx := t.Context()
		for i, p := range []enroll.PromptID{enroll.PromptGreeting, enroll.PromptGreeting, enroll.PromptWrongKey} {
			if err := l.Play(ctx, p); err != nil { // 0–4 s, 4–8 s, 8–12 s
				t.Fatalf("play %d: %v", i, err)
			}
		}
		if err := l.Play(ctx, enroll.PromptWrongKey); err != boom {
			t.Fatalf("second wrong-key = %v, want boom", err)
		}
		err := l.Play(ctx, enroll.PromptFraud) // 12 s, cut by the hang-up at 20 s
		if !errors.Is(err, enroll.ErrHungUp) || !errors.Is(l.Err(), enroll.ErrHungUp) {
			t.Fatalf("Play across the hang-up = %v, Err = %v", err, l.Err())
		}
		select {
		case <-l.Done():
		default:
			t.Fatal("Done not closed after the hang-up")
		}
		l.Press("1") // after the end: not delivered

		if got, want := len(l.Plays()), 5; got != want {
			t.Fatalf("%d plays, want %d", got, want)
		}
		if p := l.Plays()[4]; p.Start != 12*time.Second || p.End != 20*time.Second || !p.Interrupted {
			t.Errorf("fraud play %v", p)
		}
		if p := l.Plays()[3]; p.Start != 12*time.Second || p.End != 12*time.Second || !p.Interrupted || p.Err != boom {
			t.Errorf("failed play %v", p)
		}
		type key struct {
			k   dtmf.Key
			src dtmf.Source
			at  time.Duration
		}
		want := []key{{'#', dtmf.SourceRFC4733, 2 * time.Second}, {'*', dtmf.SourceInband, 5 * time.Second}, {'#', dtmf.SourceRFC4733, 6 * time.Second}}
		for _, w := range want {
			select {
			case k := <-l.Keys():
				if got := (key{k.Key, k.Source, k.At.Sub(start)}); got != w {
					t.Errorf("key %v, want %v", got, w)
				}
			default:
				t.Fatalf("no key, want %v", w)
			}
		}
		select {
		case k := <-l.Keys():
			t.Errorf("unexpected key %v", k)
		default:
		}
	})
}

func TestFakeLineKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := enrolltest.NewFakeLine()
		defer l.Close()
		start := time.Now()
		l.PressAt(time.Second, "*")
		l.At(2*time.Second, func() { l.PressFrom(dtmf.SourceInband, "#") })
		type key struct {
			k   dtmf.Key
			src dtmf.Source
			at  time.Duration
		}
		want := []key{{'*', dtmf.SourceRFC4733, time.Second}, {'#', dtmf.SourceInband, 2 * time.Second}}
		for _, w := range want {
			k := <-l.Keys()
			if got := (key{k.Key, k.Source, k.At.Sub(start)}); got != w {
				t.Errorf("key %v, want %v", got, w)
			}
		}
		for range enrolltest.KeyBuffer + 5 {
			l.Press("1")
		}
		if got := l.Dropped(); got != 5 {
			t.Errorf("Dropped() = %d, want 5", got)
		}
		l.CloseKeys()
		n := 0
		for range l.Keys() {
			n++
		}
		if n != enrolltest.KeyBuffer {
			t.Errorf("%d keys buffered, want %d", n, enrolltest.KeyBuffer)
		}
		l.Press("2") // after CloseKeys: dropped, no panic
	})
}

func TestFakeLineHangup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := enrolltest.NewFakeLine()
		l.HangUpAt(time.Second)
		l.Close() // the hang-up never happens
		time.Sleep(2 * time.Second)
		select {
		case <-l.Done():
			t.Fatal("a closed FakeLine ran its script")
		default:
		}
		boom := errors.New("boom")
		l.FailHangup(boom)
		if err := l.Hangup(t.Context()); err != boom {
			t.Fatalf("Hangup = %v", err)
		}
		<-l.Done()
		if l.Err() != nil || l.Hangups() != 1 {
			t.Fatalf("after our Hangup: Err %v, %d hangups", l.Err(), l.Hangups())
		}
		if err := l.Play(t.Context(), enroll.PromptGreeting); !errors.Is(err, enroll.ErrHungUp) {
			t.Fatalf("Play on an ended line = %v", err)
		}
		l.End(enroll.ErrMediaTimeout) // already ended: no change
		if l.Err() != nil {
			t.Fatalf("Err = %v", l.Err())
		}
	})
}

func TestFakeLinePressPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Press(\"x\") did not panic")
		}
	}()
	enrolltest.NewFakeLine().Press("x")
}
