package enroll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// WebhookDeliveryHeader carries an outbox message's ID on each of its
// requests: the same on every retry and redelivery, so it is the key a
// receiver de-duplicates on.
const WebhookDeliveryHeader = "Denwa-Delivery"

// Defaults of WebhookConfig.
const (
	DefaultWebhookMinBackoff   = time.Second
	DefaultWebhookMaxBackoff   = 10 * time.Minute
	DefaultWebhookMaxAttempts  = 12
	DefaultWebhookPollInterval = time.Second
	DefaultWebhookTimeout      = 10 * time.Second
	DefaultWebhookBatch        = 16
)

// WebhookConfig configures a WebhookDeliverer. Store, URL and Secret are
// required; every other zero value means the default named on the field.
type WebhookConfig struct {
	// Store holds the outbox the Service fills.
	Store Store
	// URL receives a POST of each message (an http or https URL).
	URL string
	// Secret signs each request (SignWebhook): at least 32 random bytes.
	// It is copied, and never logged.
	Secret []byte
	// Client sends the requests. Nil means a client with a 10 s timeout
	// that follows no redirects. Whatever the client, each request is
	// bounded by Timeout.
	Client *http.Client
	// Timeout bounds one request. Zero means 10 s (DefaultWebhookTimeout).
	Timeout time.Duration

	// MinBackoff and MaxBackoff bound the wait before a retry: the n-th
	// retry waits MinBackoff·2^(n-1), at most MaxBackoff, less a random
	// jitter of up to half. Zero means 1 s and 10 min.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts is how many failed attempts give a message up: it is
	// then dead (OutboxDead), kept in the outbox with its LastError, and
	// sent again only when redelivered (Store.RedeliverOutbox, `denwa
	// webhook redeliver`). Zero means 12 (DefaultWebhookMaxAttempts).
	MaxAttempts int

	// PollInterval is how often the outbox is read. Zero means a second.
	PollInterval time.Duration
	// Batch is how many messages one poll claims at most. Zero means 16.
	Batch int

	// Logger receives one record per delivery and per failed attempt
	// (message ID, event, enrollment, status; never the secret, the
	// signature or the URL's credentials). Nil means no logging.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// WebhookDeliverer posts the outbox's messages to the webhook URL, signed
// (header Denwa-Signature, see SignWebhook), at least once: a message is
// marked delivered only after a 2xx answer, failed attempts are retried
// with exponential backoff and jitter, MaxAttempts of them at most; after
// the last the message is dead until redelivered, which the running
// deliverer notices at its next poll. Several deliverers (on several
// nodes) may share one Store: the outbox lease keeps them from sending a
// message twice at the same time.
//
// Delivery is at least once, so a receiver may see a message again (a
// delivery whose 2xx was lost, a redelivery of a dead message): every
// attempt of one message carries the same Denwa-Delivery, and receivers
// must treat a Denwa-Delivery they have seen as the same event.
//
// Each request carries:
//
//	Content-Type: application/json
//	Denwa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//	Denwa-Event: enrollment.verified | enrollment.failed | enrollment.fraud_reported
//	Denwa-Delivery: <outbox message ID>
//
// and the message's payload (a WebhookPayload) as its body.
type WebhookDeliverer struct {
	cfg    WebhookConfig
	log    *slog.Logger
	cfgErr error
}

// NewWebhookDeliverer returns a deliverer for cfg, its defaults filled
// in. A configuration error (no Store, a URL that is not http(s), a
// secret shorter than 32 bytes) is returned by Run, wrapping
// ErrInvalidConfig.
func NewWebhookDeliverer(cfg WebhookConfig) *WebhookDeliverer {
	d := &WebhookDeliverer{}
	cfg.Secret = bytes.Clone(cfg.Secret)
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultWebhookMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultWebhookMaxBackoff
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultWebhookMaxAttempts
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultWebhookPollInterval
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultWebhookBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d.log = cfg.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.Store == nil:
		d.cfgErr = fmt.Errorf("%w: webhook Store is required", ErrInvalidConfig)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		d.cfgErr = fmt.Errorf("%w: webhook URL is no http(s) URL", ErrInvalidConfig)
	case len(cfg.Secret) < 32:
		d.cfgErr = fmt.Errorf("%w: webhook secret of %d bytes; want at least 32", ErrInvalidConfig, len(cfg.Secret))
	case cfg.MinBackoff < 0 || cfg.MaxBackoff < cfg.MinBackoff || cfg.MaxAttempts < 0 || cfg.PollInterval < 0 || cfg.Batch < 0 || cfg.Timeout < 0:
		d.cfgErr = fmt.Errorf("%w: webhook backoff, attempts, poll interval, batch or timeout out of range", ErrInvalidConfig)
	}
	d.cfg = cfg
	return d
}

// lease is how long a claimed message is kept from other deliverers: the
// request's timeout and then some.
func (d *WebhookDeliverer) lease() time.Duration { return d.cfg.Timeout + 30*time.Second }

// Run delivers the outbox until ctx ends, then returns ctx.Err(); it
// returns at once with the configuration error, if any. A message whose
// request was cut short by ctx ending stays in the outbox, to be sent
// again after its lease by the next Run. Store errors are logged and
// retried at the next poll.
func (d *WebhookDeliverer) Run(ctx context.Context) error {
	if d.cfgErr != nil {
		return d.cfgErr
	}
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	for {
		for {
			n, err := d.deliverBatch(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("enroll: webhook outbox read failed", "err", err)
				}
				break
			}
			if n < d.cfg.Batch || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// deliverBatch claims due messages and sends each; it returns how many
// it claimed.
func (d *WebhookDeliverer) deliverBatch(ctx context.Context) (int, error) {
	ms, err := d.cfg.Store.ClaimOutbox(ctx, Now(d.cfg.Now()), d.lease(), d.cfg.Batch)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		if ctx.Err() != nil {
			break
		}
		d.deliver(ctx, m)
	}
	return len(ms), nil
}

// deliver sends one message and records the result.
func (d *WebhookDeliverer) deliver(ctx context.Context, m OutboxMessage) {
	status, err := d.send(ctx, m)
	if ctx.Err() != nil {
		return // shutting down: the lease gives the message back later
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := Now(d.cfg.Now())
	if err == nil {
		if err := d.cfg.Store.MarkOutboxDelivered(rctx, m.ID, now); err != nil {
			d.log.Error("enroll: recording a webhook delivery failed", "message", m.ID, "err", err)
			return
		}
		d.log.Info("enroll: webhook delivered", "message", m.ID, "event", m.Event, "enrollment", m.EnrollmentID,
			"status", status, "attempt", m.Attempts+1)
		return
	}
	attempt := m.Attempts + 1
	if attempt >= d.cfg.MaxAttempts {
		d.log.Error("enroll: webhook delivery given up: the message is dead (denwa webhook redeliver sends it again)",
			"message", m.ID, "event", m.Event, "enrollment", m.EnrollmentID, "attempts", attempt, "err", err)
		if err := d.cfg.Store.MarkOutboxDead(rctx, m.ID, now, err.Error()); err != nil {
			d.log.Error("enroll: recording a dead webhook failed", "message", m.ID, "err", err)
		}
		return
	}
	next := now.Add(d.Backoff(attempt))
	d.log.Warn("enroll: webhook attempt failed", "message", m.ID, "event", m.Event, "enrollment", m.EnrollmentID,
		"attempt", attempt, "retry_at", next, "err", err)
	if err := d.cfg.Store.MarkOutboxFailed(rctx, m.ID, next, err.Error()); err != nil {
		d.log.Error("enroll: recording a failed webhook attempt failed", "message", m.ID, "err", err)
	}
}

// Backoff returns how long to wait after the given failed attempt (1 for
// the first): MinBackoff·2^(attempt-1), at most MaxBackoff, less a
// random jitter of up to half of it.
func (d *WebhookDeliverer) Backoff(attempt int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < attempt && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	if half := int64(b / 2); half > 0 {
		b -= time.Duration(rand.Int64N(half + 1))
	}
	return b
}

// send posts m and returns the status, or an error for a transport
// failure or a status other than 2xx. The error names neither the URL
// nor the secret.
func (d *WebhookDeliverer) send(ctx context.Context, m OutboxMessage) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(m.Payload))
	if err != nil {
		return 0, errors.New("enroll: webhook request could not be built")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "denwa-webhook/1")
	req.Header.Set(WebhookSignatureHeader, SignWebhook(d.cfg.Secret, d.cfg.Now(), m.Payload))
	req.Header.Set("Denwa-Event", m.Event)
	req.Header.Set(WebhookDeliveryHeader, strconv.FormatInt(m.ID, 10))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error quotes the URL, which may hold credentials
		}
		return 0, fmt.Errorf("enroll: webhook post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("enroll: webhook answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
