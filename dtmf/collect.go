package dtmf

import "fmt"

// MaxCollectKeys is the most keys a Collector gathers before its
// terminator: the size of its fixed buffer.
const MaxCollectKeys = 32

// Default collector timeouts, in samples (timestamp units) at 8 kHz.
const (
	DefaultFirstKeyTimeout = 5 * SampleRate // 5 s for the first key
	DefaultInterKeyTimeout = 3 * SampleRate // 3 s between keys
)

// maxCollectTimeout caps the collector's timeouts (about 38 hours).
const maxCollectTimeout = 1 << 40

// CollectReason tells why a collection finished. The zero value means it
// has not finished (or the reason is unknown).
type CollectReason uint8

const (
	CollectUnknown      CollectReason = iota // not finished
	CollectTerminated                        // a terminator key was pressed
	CollectFirstTimeout                      // no key before the first-key timeout
	CollectInterTimeout                      // no further key before the inter-key timeout
	CollectMaxDigits                         // MaxDigits keys were collected
)

// String returns "terminated", "first-timeout", "inter-timeout",
// "max-digits" or "unknown".
func (r CollectReason) String() string {
	switch r {
	case CollectTerminated:
		return "terminated"
	case CollectFirstTimeout:
		return "first-timeout"
	case CollectInterTimeout:
		return "inter-timeout"
	case CollectMaxDigits:
		return "max-digits"
	}
	return "unknown"
}

// CollectorConfig tunes a Collector. Times are in samples (timestamp
// units), the time base of the events it is given.
type CollectorConfig struct {
	// Terminators lists the keys that end a collection, such as "#" or
	// "#*". Empty means none: only timeouts and MaxDigits end it.
	Terminators string
	// MaxDigits ends the collection once this many keys, not counting a
	// terminator, are collected. Zero means MaxCollectKeys, the most
	// allowed.
	MaxDigits int
	// FirstTimeout: how long after Start the first key may begin. Zero
	// means DefaultFirstKeyTimeout; negative means no limit.
	FirstTimeout int64
	// InterTimeout: how long after a key ends the next may begin. Zero
	// means DefaultInterKeyTimeout; negative means no limit.
	InterTimeout int64
}

// CollectResult is a finished collection.
type CollectResult struct {
	Reason CollectReason
	// At is when it finished: the End of the key that finished it, or the
	// deadline that passed.
	At   int64
	n    int
	keys [MaxCollectKeys + 1]Key
}

// Keys returns the keys collected, in order, including the terminator when
// Reason is CollectTerminated. The slice aliases r.
func (r *CollectResult) Keys() []Key { return r.keys[:r.n] }

// Digits returns the keys collected without the terminator. The slice
// aliases r.
func (r *CollectResult) Digits() []Key {
	if r.Reason == CollectTerminated && r.n > 0 {
		return r.keys[:r.n-1]
	}
	return r.keys[:r.n]
}

// String returns the keys and the reason, as in `"*#" terminated`.
func (r CollectResult) String() string {
	return fmt.Sprintf("%q %s", string(r.keys[:r.n]), r.Reason)
}

// Collector gathers the keys of one prompt: it is finished by a terminator
// key, by MaxDigits keys, or by a timeout. It has no policy: what a
// sequence means is the caller's business.
//
// Call Start when collection begins (usually when the prompt starts, so a
// key pressed during the prompt counts), then Add each key as it comes
// (from a Merger) and Advance as time passes. Timeouts are judged on the
// events' own times: a key counts when it begins before the deadline, even
// if it is added after now has passed it, as long as Advance has not
// finished the collection first. Keys added before Start or after the
// collection finished are ignored. Add and Advance do not allocate; a
// Collector is not safe for concurrent use. The zero value is a collector
// without terminator keys and with the default limits.
type Collector struct {
	cfg  CollectorConfig
	term uint32 // bit i set: Keys[i] is a terminator

	ready         bool // cfg holds its defaults
	started, done bool
	hasDeadline   bool
	deadline      int64
	res           CollectResult
}

// NewCollector checks cfg, fills in its defaults and returns a Collector,
// or an error wrapping [ErrInvalidConfig] or [ErrInvalidKey].
func NewCollector(cfg CollectorConfig) (*Collector, error) {
	c := &Collector{}
	ks, err := ParseKeys(cfg.Terminators)
	if err != nil {
		return nil, fmt.Errorf("%w: terminators: %w", ErrInvalidKey, err)
	}
	for _, k := range ks {
		code, _ := k.Code()
		c.term |= 1 << code
	}
	switch {
	case cfg.MaxDigits == 0:
		cfg.MaxDigits = MaxCollectKeys
	case cfg.MaxDigits < 0 || cfg.MaxDigits > MaxCollectKeys:
		return nil, fmt.Errorf("%w: MaxDigits %d (want 1..%d)", ErrInvalidConfig, cfg.MaxDigits, MaxCollectKeys)
	}
	cfg.FirstTimeout = collectTimeout(cfg.FirstTimeout, DefaultFirstKeyTimeout)
	cfg.InterTimeout = collectTimeout(cfg.InterTimeout, DefaultInterKeyTimeout)
	c.cfg, c.ready = cfg, true
	return c, nil
}

func collectTimeout(t, def int64) int64 {
	switch {
	case t == 0:
		return def
	case t < 0:
		return -1
	}
	return min(t, maxCollectTimeout)
}

// Start begins a collection at now, forgetting any previous one; the
// first-key timeout runs from now.
func (c *Collector) Start(now int64) {
	if !c.ready { // the zero Collector: no terminator, default limits
		z, _ := NewCollector(CollectorConfig{})
		*c = *z
	}
	c.started, c.done = true, false
	c.res = CollectResult{}
	c.setDeadline(now, c.cfg.FirstTimeout)
}

func (c *Collector) setDeadline(from, timeout int64) {
	c.hasDeadline = timeout >= 0
	c.deadline = from + timeout
}

func (c *Collector) isTerminator(k Key) bool {
	code, ok := k.Code()
	return ok && c.term&(1<<code) != 0
}

// Add takes one key. It returns the result and true when the collection
// finished: by this key, or, when the key began at or after the pending
// deadline, by that timeout (the key is then not collected).
func (c *Collector) Add(ev Event) (CollectResult, bool) {
	if !c.started || c.done || !ev.Key.Valid() {
		return CollectResult{}, false
	}
	if c.hasDeadline && ev.Start >= c.deadline {
		return c.timeout(), true
	}
	c.res.keys[c.res.n] = ev.Key
	c.res.n++
	switch {
	case c.isTerminator(ev.Key):
		return c.finish(CollectTerminated, ev.End), true
	case c.res.n == c.cfg.MaxDigits:
		return c.finish(CollectMaxDigits, ev.End), true
	}
	c.setDeadline(ev.End, c.cfg.InterTimeout)
	return CollectResult{}, false
}

// Advance tells the collector the time is now. It returns the result and
// true when a timeout ended the collection (now ≥ its deadline).
func (c *Collector) Advance(now int64) (CollectResult, bool) {
	if !c.started || c.done || !c.hasDeadline || now < c.deadline {
		return CollectResult{}, false
	}
	return c.timeout(), true
}

func (c *Collector) timeout() CollectResult {
	if c.res.n == 0 {
		return c.finish(CollectFirstTimeout, c.deadline)
	}
	return c.finish(CollectInterTimeout, c.deadline)
}

func (c *Collector) finish(r CollectReason, at int64) CollectResult {
	c.done = true
	c.res.Reason, c.res.At = r, at
	return c.res
}

// Result returns the result and true once the collection has finished.
func (c *Collector) Result() (CollectResult, bool) {
	return c.res, c.done
}

// Collected returns the keys collected so far; the slice aliases the
// collector and is valid until the next call.
func (c *Collector) Collected() []Key { return c.res.Keys() }
