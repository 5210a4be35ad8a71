package peers

import (
	"bytes"
	"testing"
	"time"

	"denwa/audio"
)

// writeSilence writes d of silence as an 8 kHz mono 16-bit WAV file, the
// audio a phone plays so that it sends RTP.
func writeSilence(t testing.TB, path string, d time.Duration) {
	t.Helper()
	var b bytes.Buffer
	if err := audio.WriteWAV(&b, audio.FormatPCM16, make([]int16, int(d.Seconds()*audio.SampleRate))); err != nil {
		t.Fatalf("peers: %v", err)
	}
	writeFile(t, path, b.String())
}
