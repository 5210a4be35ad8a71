package dtmf

import (
	"slices"
	"testing"
)

func sinf(k Key, s, e int64) mstep      { return mstep{op: 'e', ev: Event{k, SourceSIPInfo, s, e}} }
func S(step int, k Key, s, e int64) out { return out{step, Event{k, SourceSIPInfo, s, e}} }

// TestMergerSIPInfo: SIP INFO keys are out-of-band like RFC 4733 ones:
// released when added, preferred to in-band twins, and one press seen
// three ways is one key.
func TestMergerSIPInfo(t *testing.T) {
	const H = DefaultMergeHold
	tests := []struct {
		name  string
		steps []mstep
		want  []out
	}{
		{"SIP INFO only: released at once", []mstep{
			sinf('1', 1000, 1000), sinf('1', 3000, 3000), mflush(),
		}, []out{S(0, '1', 1000, 1000), S(1, '1', 3000, 3000)}},
		{"SIP INFO then RFC 4733: the first kept", []mstep{
			sinf('#', 1000, 1000), rfc('#', 1040, 1200), mflush(),
		}, []out{S(0, '#', 1000, 1000)}},
		{"RFC 4733 then SIP INFO: the first kept", []mstep{
			rfc('#', 1040, 1200), sinf('#', 1000, 1000), mflush(),
		}, []out{R(0, '#', 1040, 1200)}},
		{"in-band held, SIP INFO wins", []mstep{
			inb('5', 1000, 1300), sinf('5', 1100, 1100), madv(1300 + H), mflush(),
		}, []out{S(1, '5', 1100, 1100)}},
		{"SIP INFO then in-band: dropped", []mstep{
			sinf('5', 1000, 1000), inb('5', 1040, 1340), madv(1340 + H), mflush(),
		}, []out{S(0, '5', 1000, 1000)}},
		{"three ways, one press", []mstep{
			inb('*', 1040, 1340), rfc('*', 1000, 1160), sinf('*', 1100, 1100), madv(1340 + H), mflush(),
		}, []out{R(1, '*', 1000, 1160)}},
		{"three ways, SIP INFO first", []mstep{
			sinf('*', 1000, 1000), rfc('*', 1000, 1160), inb('*', 1040, 1340), madv(1340 + H), mflush(),
		}, []out{S(0, '*', 1000, 1000)}},
		{"two presses both ways stay two", []mstep{
			sinf('1', 1000, 1000), rfc('1', 1000, 1800),
			sinf('1', 2120, 2120), rfc('1', 2120, 2920),
			mflush(),
		}, []out{S(0, '1', 1000, 1000), S(2, '1', 2120, 2120)}},
		{"a second SIP INFO of the same key is a second press", []mstep{
			rfc('1', 1000, 1800), sinf('1', 1000, 1000), sinf('1', 1100, 1100), mflush(),
		}, []out{R(0, '1', 1000, 1800), S(2, '1', 1100, 1100)}},
		{"SIP INFO sent at key-up, no Duration: within 100 ms of the press's end", []mstep{
			rfc('#', 1000, 1160), sinf('#', 1790, 1790), mflush(),
		}, []out{R(0, '#', 1000, 1160)}},
		{"SIP INFO sent at key-down, 60 ms before the RTP says", []mstep{
			sinf('#', 500, 1000), rfc('#', 1480, 1640), mflush(),
		}, []out{S(0, '#', 500, 1000)}},
		{"SIP INFO far from an RFC 4733 key of the same Key: two presses", []mstep{
			rfc('#', 1000, 1800), sinf('#', 3000, 3000), mflush(),
		}, []out{R(0, '#', 1000, 1800), S(1, '#', 3000, 3000)}},
		{"different keys never pair", []mstep{
			sinf('1', 1000, 1000), rfc('2', 1000, 1800), mflush(),
		}, []out{S(0, '1', 1000, 1000), R(1, '2', 1000, 1800)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Merger
			if got := runMerger(&m, tt.steps); !slices.Equal(got, tt.want) {
				t.Errorf("released\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}
