package enroll_test

import (
	"context"
	"fmt"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

// A person on an analog line presses * then # while the greeting plays.
// (This example runs in real time with short prompts; the tests use
// testing/synctest instead.)
func ExampleDialogue_Run() {
	line := enrolltest.NewFakeLine()
	defer line.Close()
	line.SetPromptLength(enroll.PromptGreeting, 200*time.Millisecond)
	line.SetPromptLength(enroll.PromptSuccess, 10*time.Millisecond)
	line.OnPlay(enroll.PromptGreeting, 1, 20*time.Millisecond, func() { line.Press("*#") })

	d, err := enroll.NewDialogue(enroll.DialogueConfig{})
	if err != nil {
		panic(err)
	}
	res := d.Run(context.Background(), line)
	fmt.Println(res.Outcome, res.Outcome.ExitCode())
	for _, k := range res.Keys() {
		fmt.Println(k)
	}
	fmt.Println(line.Prompts())
	// Output:
	// verified 0
	// * (rfc4733)
	// # (rfc4733)
	// [greeting success]
}
