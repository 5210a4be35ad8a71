package main

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"denwa/enroll"
	"denwa/enroll/httpx"
	"denwa/sip"
)

// metrics is what /metrics shows. It observes the service from the
// outside, as wiring: a Dialer wrapper (call setup latency, calls in
// progress, the moment the success prompt begins), a Store wrapper (each
// call's end as the Service records it: outcome, deciding key's source,
// key-to-verified latency) and an HTTP middleware. enroll itself knows
// nothing of Prometheus.
type metrics struct {
	reg           *prometheus.Registry
	calls         *prometheus.CounterVec
	keys          *prometheus.CounterVec
	setup         *prometheus.HistogramVec
	keyToVerified prometheus.Histogram
	active        prometheus.Gauge
	limits        *prometheus.CounterVec
	requests      *prometheus.CounterVec

	mu        sync.Mutex
	successAt map[string]time.Time // E.164 → when its success prompt began
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "denwa_calls_total", Help: "Verification calls ended, by outcome (as recorded in the store).",
		}, []string{"outcome"}),
		keys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "denwa_keys_total", Help: "Deciding keys of verified and fraud-reported calls, by how they arrived (rfc4733, inband, sip-info).",
		}, []string{"source"}),
		setup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "denwa_call_setup_seconds", Help: "From dialling to the answer (answered) or to the refusal (not answered).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 90},
		}, []string{"result"}),
		keyToVerified: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "denwa_key_to_verified_seconds",
			Help:    "From the key that verified (the success prompt beginning) to the enrollment stored as verified; includes the success prompt and the hang-up.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 3, 5, 8, 13, 20},
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "denwa_calls_active", Help: "Answered verification calls in progress.",
		}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "denwa_limit_rejections_total", Help: "Calls refused by an abuse limit (number, user, ip, global; api: refused through the API).",
		}, []string{"limit"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "denwa_http_requests_total", Help: "HTTP requests served, by status code.",
		}, []string{"code"}),
		successAt: map[string]time.Time{},
	}
	m.reg.MustRegister(m.calls, m.keys, m.setup, m.keyToVerified, m.active, m.limits, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []enroll.Outcome{enroll.OutcomeVerified, enroll.OutcomeNoAnswer, enroll.OutcomeBusy, enroll.OutcomeRejected,
		enroll.OutcomeUnreachable, enroll.OutcomeNoInput, enroll.OutcomeWrongInput, enroll.OutcomeHungUp,
		enroll.OutcomeFraudReported, enroll.OutcomeFailed} {
		m.calls.WithLabelValues(o.String())
	}
	m.keys.WithLabelValues("rfc4733")
	m.keys.WithLabelValues("inband")
	return m
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// rtp shows the datagrams d's calls dropped as not from the far end's
// media address (sip.Dialer.ForeignPackets): someone sending to the RTP
// range, or packets queued before an answer.
func (m *metrics) rtp(d *sip.Dialer) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "denwa_rtp_foreign_packets_total",
		Help: "RTP datagrams dropped because they did not come from the far end's media address (or arrived before the answer).",
	}, func() float64 { return float64(d.ForeignPackets()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "denwa_srtp_auth_failures_total",
		Help: "SRTP packets dropped because they failed authentication: tampered, or protected with another key.",
	}, func() float64 { return float64(d.SRTPAuthFailures()) }))
}

// registration shows r's state (sip.Registration, --register): whether
// the contact is registered, and the REGISTERs that failed.
func (m *metrics) registration(r *sip.Registration) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "denwa_sip_registered", Help: "1 while denwa's contact is registered with the PBX or trunk (--register), else 0.",
	}, func() float64 {
		if r.State().Registered {
			return 1
		}
		return 0
	}), prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "denwa_sip_register_failures_total", Help: "Registrations (REGISTER with its digest answer) that failed; each is retried with backoff.",
	}, func() float64 { return float64(r.State().Failures) }))
}

// results shows the calls whose end the store refused so far, which svc
// keeps and writes again until the store takes them.
func (m *metrics) results(svc *enroll.Service) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "denwa_call_results_pending",
		Help: "Calls ended whose result the store refused so far; kept in memory and written again until it takes them.",
	}, func() float64 { return float64(svc.PendingResults()) }))
}

// node shows which node this is (denwa_node_info, its name as a label;
// "" for a single unnamed node), the calls in progress it owns, whether it
// holds its lease in the store, and the calls of lost nodes it ended.
func (m *metrics) node(svc *enroll.Service) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "denwa_node_info", Help: "Always 1; its node label is this node's name (calls.node, --node), empty for a single unnamed node.",
			ConstLabels: prometheus.Labels{"node": svc.Config().Node},
		}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "denwa_node_calls_in_progress", Help: "Verification calls in progress placed by this node (ringing or answered), which it owns until they end.",
		}, func() float64 { return float64(svc.NodeStats().Calls) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "denwa_node_lease_held", Help: "1 while this node holds its lease in the store (always, for an unnamed node); 0 while it lapsed: it places no call and other nodes may end its calls.",
		}, func() float64 {
			if svc.NodeStats().LeaseHeld {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "denwa_node_lost_calls_ended_total", Help: "Calls of other nodes whose lease lapsed (lost nodes) that this node ended as failed, cause node lost.",
		}, func() float64 { return float64(svc.NodeStats().Reaped) }),
	)
}

// trunk shows the trunk's health (sip.Dialer.TrunkHealth): resolved,
// up by the OPTIONS ping, and the failures of each.
func (m *metrics) trunk(d *sip.Dialer) {
	gauge := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "denwa_trunk_resolved", Help: "1 while the trunk's host name resolves (calls fail fast as unreachable while it does not).",
		}, func() float64 { return gauge(len(d.TrunkHealth().Addrs) > 0) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "denwa_trunk_resolve_errors_total", Help: "Failed resolutions of the trunk's host name.",
		}, func() float64 { return float64(d.TrunkHealth().ResolveFailures) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "denwa_trunk_up", Help: "0 while the trunk is down by the OPTIONS ping (--trunk-ping); 1 otherwise.",
		}, func() float64 { return gauge(!d.TrunkHealth().Down) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "denwa_trunk_ping_failures_total", Help: "OPTIONS pings to the trunk that got no answer (or 503).",
		}, func() float64 { return float64(d.TrunkHealth().PingFailures) }),
	)
}

// sip shows what d's SIP port refused (sip.Dialer.GuardStats), by
// reason: stranger (from outside the allowed networks, dropped), limited
// (answered 503: over the rate or the transaction cap), dropped (over the
// ceiling), malformed (a datagram that was no SIP); and the OPTIONS it
// answered without keeping state.
func (m *metrics) sip(d *sip.Dialer) {
	for _, r := range []struct {
		reason string
		n      func(sip.GuardStats) int64
	}{
		{"stranger", func(s sip.GuardStats) int64 { return s.Strangers }},
		{"limited", func(s sip.GuardStats) int64 { return s.Limited }},
		{"dropped", func(s sip.GuardStats) int64 { return s.Dropped }},
		{"malformed", func(s sip.GuardStats) int64 { return s.Malformed }},
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "denwa_sip_refused_total", ConstLabels: prometheus.Labels{"reason": r.reason},
			Help: "SIP requests and datagrams the SIP port refused: stranger (outside the allowed networks, dropped), limited (503), dropped (over the ceiling), malformed.",
		}, func() float64 { return float64(r.n(d.GuardStats())) }))
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "denwa_sip_options_total", Help: "OPTIONS answered 200 statelessly by the SIP port.",
	}, func() float64 { return float64(d.GuardStats().Options) }))
}

// limit counts a call a limit refused.
func (m *metrics) limit(le *enroll.LimitError) { m.limits.WithLabelValues(le.Limit).Inc() }

// dialer wraps d: setup latency, active calls, and the success prompt's
// start for the key-to-verified latency.
func (m *metrics) dialer(d enroll.Dialer) enroll.Dialer {
	return enroll.DialerFunc(func(ctx context.Context, e164 string) (enroll.Line, error) {
		start := time.Now()
		l, err := d.Dial(ctx, e164)
		if err != nil || l == nil {
			m.setup.WithLabelValues("not-answered").Observe(time.Since(start).Seconds())
			return l, err
		}
		m.setup.WithLabelValues("answered").Observe(time.Since(start).Seconds())
		m.active.Inc()
		go func() { <-l.Done(); m.active.Dec() }() // ends with the call
		return &meteredLine{Line: l, m: m, e164: e164}, nil
	})
}

type meteredLine struct {
	enroll.Line
	m    *metrics
	e164 string
}

func (l *meteredLine) Play(ctx context.Context, p enroll.PromptID) error {
	if p == enroll.PromptSuccess {
		l.m.mu.Lock()
		l.m.successAt[l.e164] = time.Now()
		l.m.mu.Unlock()
	}
	return l.Line.Play(ctx, p)
}

// store wraps st: each call's end, once stored, counts its outcome and
// the source of its deciding key. A Watcher (PostgreSQL) stays one.
func (m *metrics) store(st enroll.Store) enroll.Store {
	ms := &meteredStore{Store: st, m: m}
	if w, ok := st.(enroll.Watcher); ok {
		return meteredWatcher{ms, w}
	}
	return ms
}

// meteredWatcher is a meteredStore over a Store that is also a Watcher.
type meteredWatcher struct {
	*meteredStore
	enroll.Watcher
}

type meteredStore struct {
	enroll.Store
	m *metrics
}

func (s *meteredStore) UpdateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent, outbox []enroll.OutboxMessage) error {
	err := s.Store.UpdateEnrollment(ctx, e, audit, outbox)
	if err != nil {
		return err
	}
	for _, ev := range audit {
		// A call ends with its call.end, or failed by a sweep or as lost
		// with its node (recover).
		if ev.Action != enroll.ActionCallEnd && ev.Action != enroll.ActionRecover {
			continue
		}
		s.m.calls.WithLabelValues(ev.Outcome.String()).Inc()
		if ev.KeySource != "" {
			s.m.keys.WithLabelValues(ev.KeySource).Inc()
		}
		s.m.mu.Lock()
		at, ok := s.m.successAt[e.Phone]
		delete(s.m.successAt, e.Phone)
		s.m.mu.Unlock()
		if ok && ev.Outcome == enroll.OutcomeVerified {
			s.m.keyToVerified.Observe(time.Since(at).Seconds())
		}
	}
	return nil
}

func (s *meteredStore) RecoverCalling(ctx context.Context, node string, now time.Time) ([]enroll.Enrollment, error) {
	es, err := s.Store.RecoverCalling(ctx, node, now)
	if err == nil {
		s.m.calls.WithLabelValues(enroll.OutcomeFailed.String()).Add(float64(len(es)))
	}
	return es, err
}

// middleware counts requests by status, and the API's 429 answers to
// starting a call as limit rejections.
func (m *metrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := httpx.NewStatusRecorder(w)
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(strconv.Itoa(sw.Status())).Inc()
		if sw.Status() == http.StatusTooManyRequests && r.Method == http.MethodPost && len(r.URL.Path) > 4 && r.URL.Path[:4] == "/v1/" &&
			len(r.URL.Path) > 5 && r.URL.Path[len(r.URL.Path)-5:] == "/call" {
			m.limits.WithLabelValues("api").Inc()
		}
	})
}

// outbox shows the webhook messages pending and dead in st, counted at
// each scrape (two counts on partial indexes: cheap). A store that cannot
// be read leaves the two series out of that scrape.
func (m *metrics) outbox(st enroll.Store) { m.reg.MustRegister(outboxCollector{st}) }

var outboxDesc = prometheus.NewDesc("denwa_webhook_messages",
	"Webhook messages in the outbox, by state: pending (to be sent or retried), dead (given up after the last retry; denwa webhook redeliver sends them again).",
	[]string{"state"}, nil)

type outboxCollector struct{ st enroll.Store }

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- outboxDesc }

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pending, dead, err := c.st.CountOutbox(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(pending), enroll.OutboxPending.String())
	ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(dead), enroll.OutboxDead.String())
}
