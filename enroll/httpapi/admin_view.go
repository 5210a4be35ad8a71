package httpapi

import (
	"strings"
	"time"

	"denwa/enroll"
)

// The admin API's answers, exported so that `denwa admin` reads them
// from the API and renders them from the store (with AdminView) in the
// same JSON. Their names are those of the OpenAPI document's schemas.

// AdminView turns what enroll.Admin returns into the admin API's answers.
type AdminView struct {
	// MaxAttempts is the service's (enroll.ServiceConfig.MaxAttempts):
	// it decides an enrollment's max_attempts and final.
	MaxAttempts int
}

// AdminEnrollment is an enrollment as the admin API shows it: as the
// enrollment API does, with the client's address and the node of its
// last call.
type AdminEnrollment struct {
	enrollmentJSON
	ClientIP string `json:"client_ip,omitempty"`
	Node     string `json:"node,omitempty"`
}

// Enrollment renders e.
func (v AdminView) Enrollment(e enroll.Enrollment) AdminEnrollment {
	return AdminEnrollment{enrollmentJSON: enrollmentOf(e, v.MaxAttempts), ClientIP: e.ClientIP, Node: e.Node}
}

// AdminEnrollments is a page of enrollments.
type AdminEnrollments struct {
	Enrollments []AdminEnrollment `json:"enrollments"`
	NextCursor  string            `json:"next_cursor,omitempty"`
}

// Enrollments renders p.
func (v AdminView) Enrollments(p enroll.EnrollmentPage) AdminEnrollments {
	return AdminEnrollments{Enrollments: each(p.Enrollments, v.Enrollment), NextCursor: p.Next}
}

// TimelineEvent is an audit event as the admin API shows it: with the
// call's node and its answer and key times.
type TimelineEvent struct {
	auditJSON
	Node       string    `json:"node,omitempty"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	KeyAt      time.Time `json:"key_at,omitzero"`
}

// OperatorEvent is what an operator did.
type OperatorEvent struct {
	ID           string    `json:"id"`
	At           time.Time `json:"at"`
	Actor        string    `json:"actor"`
	Action       string    `json:"action"`
	Target       string    `json:"target,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	EnrollmentID string    `json:"enrollment_id,omitempty"`
	RequestID    string    `json:"request_id,omitempty"`
}

func operatorEventOf(ev enroll.OperatorEvent) OperatorEvent {
	return OperatorEvent{ID: ev.ID, At: ev.At, Actor: string(ev.Actor), Action: ev.Action, Target: ev.Target,
		Reason: ev.Reason, EnrollmentID: ev.EnrollmentID, RequestID: ev.RequestID}
}

// OperatorEvents is a page of operator events.
type OperatorEvents struct {
	Events     []OperatorEvent `json:"operator_events"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// OperatorEvents renders p.
func (AdminView) OperatorEvents(p enroll.OperatorEventPage) OperatorEvents {
	return OperatorEvents{Events: each(p.Events, operatorEventOf), NextCursor: p.Next}
}

// BlockedNumber is a number no enrollment may call.
type BlockedNumber struct {
	Phone        string    `json:"phone"`
	PhoneDisplay string    `json:"phone_display,omitempty"`
	Reason       string    `json:"reason"`
	EnrollmentID string    `json:"enrollment_id,omitempty"`
	BlockedAt    time.Time `json:"blocked_at"`
}

func blockedOf(b enroll.BlockedNumber) BlockedNumber {
	j := BlockedNumber{Phone: b.Phone, Reason: b.Reason, EnrollmentID: b.EnrollmentID, BlockedAt: b.At}
	if p, err := enroll.ParseE164(b.Phone); err == nil {
		j.PhoneDisplay = p.Display
	}
	return j
}

// AdminEnrollmentDetail is one enrollment with its timeline.
type AdminEnrollmentDetail struct {
	Enrollment     AdminEnrollment `json:"enrollment"`
	Timeline       []TimelineEvent `json:"timeline"`
	OperatorEvents []OperatorEvent `json:"operator_events"`
	Block          *BlockedNumber  `json:"block,omitempty"`
}

// Detail renders d.
func (v AdminView) Detail(d enroll.EnrollmentDetail) AdminEnrollmentDetail {
	out := AdminEnrollmentDetail{
		Enrollment: v.Enrollment(d.Enrollment),
		Timeline: each(d.Audit, func(ev enroll.AuditEvent) TimelineEvent {
			return TimelineEvent{auditJSON: auditOf(ev), Node: ev.Node, AnsweredAt: ev.AnsweredAt, KeyAt: ev.KeyAt}
		}),
		OperatorEvents: each(d.Operator, operatorEventOf),
	}
	if d.Block != nil {
		b := blockedOf(*d.Block)
		out.Block = &b
	}
	return out
}

// BlockedNumbers is a page of blocked numbers.
type BlockedNumbers struct {
	BlockedNumbers []BlockedNumber `json:"blocked_numbers"`
	NextCursor     string          `json:"next_cursor,omitempty"`
}

// Blocked renders p.
func (AdminView) Blocked(p enroll.BlockedPage) BlockedNumbers {
	return BlockedNumbers{BlockedNumbers: each(p.Blocked, blockedOf), NextCursor: p.Next}
}

// Unblocked is the answer to an unblock.
type Unblocked struct {
	Unblocked     BlockedNumber `json:"unblocked"`
	OperatorEvent OperatorEvent `json:"operator_event"`
}

// Unblocked renders an unblock.
func (AdminView) Unblocked(b enroll.BlockedNumber, ev enroll.OperatorEvent) Unblocked {
	return Unblocked{Unblocked: blockedOf(b), OperatorEvent: operatorEventOf(ev)}
}

// FraudReport is a call whose person pressed 0#.
type FraudReport struct {
	At         time.Time       `json:"at"`
	Enrollment AdminEnrollment `json:"enrollment"`
	KeySource  string          `json:"key_source,omitempty"`
	Keys       string          `json:"keys,omitempty"`
	Blocked    bool            `json:"blocked"`
}

// FraudReports is a page of fraud reports.
type FraudReports struct {
	Reports    []FraudReport `json:"fraud_reports"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// Fraud renders p.
func (v AdminView) Fraud(p enroll.FraudPage) FraudReports {
	return FraudReports{NextCursor: p.Next, Reports: each(p.Reports, func(rp enroll.FraudReport) FraudReport {
		return FraudReport{At: rp.At, Enrollment: v.Enrollment(rp.Enrollment), KeySource: rp.KeySource, Keys: rp.Keys, Blocked: rp.Blocked}
	})}
}

// APIKey is an API key: never the key or its hash.
type APIKey struct {
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

func apiKeyOf(k enroll.APIKey) APIKey {
	return APIKey{Name: k.Name, Scopes: strings.Split(k.Scopes.String(), ","), CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
}

// APIKeys lists the API keys.
type APIKeys struct {
	APIKeys []APIKey `json:"api_keys"`
}

// APIKeys renders ks.
func (AdminView) APIKeys(ks []enroll.APIKey) APIKeys { return APIKeys{APIKeys: each(ks, apiKeyOf)} }

// CreatedAPIKey is the answer that carries a new key, once.
type CreatedAPIKey struct {
	APIKey APIKey `json:"api_key"`
	// Key is the key itself, shown this once.
	Key string `json:"key"`
}

// CreatedAPIKey renders a key just made.
func (AdminView) CreatedAPIKey(plain string, k enroll.APIKey) CreatedAPIKey {
	return CreatedAPIKey{APIKey: apiKeyOf(k), Key: plain}
}

// Webhook is a webhook message: never its payload.
type Webhook struct {
	ID            int64     `json:"id"`
	Event         string    `json:"event"`
	EnrollmentID  string    `json:"enrollment_id,omitempty"`
	State         string    `json:"state"`
	CreatedAt     time.Time `json:"created_at"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	DeadAt        time.Time `json:"dead_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
}

// Webhooks is a page of webhook messages.
type Webhooks struct {
	Webhooks   []Webhook `json:"webhooks"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// Webhooks renders p.
func (AdminView) Webhooks(p enroll.WebhookPage) Webhooks {
	return Webhooks{NextCursor: p.Next, Webhooks: each(p.Messages, func(m enroll.OutboxMessage) Webhook {
		return Webhook{ID: m.ID, Event: m.Event, EnrollmentID: m.EnrollmentID,
			State: m.State().String(), CreatedAt: m.CreatedAt, Attempts: m.Attempts, NextAttemptAt: m.NextAttemptAt,
			DeadAt: m.DeadAt, LastError: m.LastError}
	})}
}

// Summary is how the calls of a window went.
type Summary struct {
	From        time.Time       `json:"from"`
	To          time.Time       `json:"to"`
	Calls       int             `json:"calls"`
	Outcomes    map[string]int  `json:"outcomes"`
	KeySources  map[string]int  `json:"key_sources"`
	Causes      []CauseCount    `json:"failure_causes"`
	AnswerToKey Durations       `json:"answer_to_key"`
	InProgress  int             `json:"calls_in_progress"`
	Bucket      int64           `json:"bucket_seconds"`
	Series      []SummaryBucket `json:"series"`
}

// CauseCount is how many failed calls had one cause.
type CauseCount struct {
	Cause string `json:"cause"`
	Count int    `json:"count"`
}

// Durations summarises the times from answer to key.
type Durations struct {
	Count    int   `json:"count"`
	MedianMS int64 `json:"median_ms"`
	P95MS    int64 `json:"p95_ms"`
}

// SummaryBucket is one bucket of Summary.Series.
type SummaryBucket struct {
	Start    time.Time      `json:"start"`
	Calls    int            `json:"calls"`
	Outcomes map[string]int `json:"outcomes"`
}

func outcomeCounts(m map[enroll.Outcome]int) map[string]int {
	out := make(map[string]int, len(m))
	for o, n := range m {
		out[o.String()] = n
	}
	return out
}

// Summary renders sum.
func (AdminView) Summary(sum enroll.Summary) Summary {
	return Summary{
		From: sum.From, To: sum.To, Calls: sum.Calls,
		Outcomes: outcomeCounts(sum.Outcomes), KeySources: sum.KeySources,
		Causes:      each(sum.Causes, func(c enroll.CauseCount) CauseCount { return CauseCount(c) }),
		AnswerToKey: Durations{sum.AnswerToKey.Count, sum.AnswerToKey.Median.Milliseconds(), sum.AnswerToKey.P95.Milliseconds()},
		InProgress:  sum.InProgress, Bucket: int64(sum.Bucket / time.Second),
		Series: each(sum.Series, func(b enroll.SummaryBucket) SummaryBucket {
			return SummaryBucket{Start: b.Start, Calls: b.Calls, Outcomes: outcomeCounts(b.Outcomes)}
		}),
	}
}

// each returns f of every element of in, in order; never nil, so that
// an empty list is [] in JSON.
func each[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}
