package enroll_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
	"denwa/enroll/store/sqlite"
)

// The service end to end: a store, a dialer (here a fake phone that
// presses #), an enrollment, its call, and the change pushed to a
// subscriber.
func ExampleService() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "denwa-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "denwa.db"), sqlite.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	phone := enrolltest.NewFakeDialer()
	phone.AnswerWith(func(l *enrolltest.FakeLine) {
		l.SetPromptLength(enroll.PromptGreeting, 50*time.Millisecond)
		l.SetPromptLength(enroll.PromptSuccess, 50*time.Millisecond)
		l.OnPlay(enroll.PromptGreeting, 1, 10*time.Millisecond, func() { l.Press("#") })
	})
	svc, err := enroll.NewService(enroll.ServiceConfig{Store: st, Dialer: phone})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close(ctx)
	if _, err := svc.Recover(ctx); err != nil { // once at start
		fmt.Println(err)
		return
	}

	by := enroll.Origin{Actor: enroll.ActorAPIKey("crm"), RequestID: "req-1"}
	e, err := svc.Create(ctx, enroll.CreateRequest{UserID: "u-1001", Phone: "+81312345678", Country: "JP", Origin: by})
	if err != nil {
		fmt.Println(err)
		return
	}
	updates, cancel, _ := svc.Subscribe(ctx, e.ID)
	defer cancel()
	if _, err := svc.StartCall(ctx, e.ID, by); err != nil {
		fmt.Println(err)
		return
	}
	for e := range updates {
		if e.State == enroll.StateVerified || e.State == enroll.StateFailed {
			fmt.Println(e.State, e.Outcome, e.KeySource)
			break
		}
	}
	e, _ = svc.Complete(ctx, e.ID, enroll.Origin{Actor: enroll.ActorUserLink})
	fmt.Println(e.State)
	// Output:
	// verified verified rfc4733
	// completed
}
