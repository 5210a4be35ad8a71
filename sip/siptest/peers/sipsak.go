package peers

import (
	"context"
	"os/exec"
	"testing"

	"denwa/media/mediatest"
)

// Sipsak runs sipsak with args (bounded by StartTimeout) and returns its
// output and exit error; -H 127.0.0.1 is put first so that its Via names
// loopback.
func Sipsak(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := mediatest.RequireTool(t, "sipsak")
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-H", "127.0.0.1"}, args...)...).CombinedOutput()
	return string(out), err
}
