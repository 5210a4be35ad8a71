package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"denwa/enroll"
	"denwa/enroll/httpapi"
)

// adminClient is the backend of `denwa admin` on a running service: its
// admin API, with an admin-scoped key.
type adminClient struct {
	base string // scheme://host[:port][/prefix], no trailing slash
	key  string
	hc   *http.Client
}

func newAdminClient(base, key string) (*adminClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: want the service's URL, as https://denwa.example.com", base)
	}
	return &adminClient{base: strings.TrimSuffix(base, "/"), key: key, hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

// apiError is an error answer of the API, as an error wrapping the enroll
// sentinel that means the same, so that the commands treat both backends
// alike.
func apiErrorOf(status int, body []byte) error {
	var e struct {
		Error struct {
			Code      string `json:"code"`
			MessageEN string `json:"message_en"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
		return fmt.Errorf("the service answered %d %s", status, http.StatusText(status))
	}
	msg := e.Error.MessageEN
	switch {
	case status == http.StatusNotFound:
		return fmt.Errorf("%w: %s", enroll.ErrNotFound, msg)
	case e.Error.Code == httpapi.CodeNotDead:
		return fmt.Errorf("%w: %s", enroll.ErrOutboxNotDead, msg)
	case e.Error.Code == httpapi.CodeNameTaken:
		return fmt.Errorf("%w: %s", enroll.ErrConflict, msg)
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		return fmt.Errorf("%w: %s", enroll.ErrInvalidInput, msg)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("the service refused "+adminKeyEnv+" (%d %s): %s", status, e.Error.Code, msg)
	}
	return fmt.Errorf("the service answered %d %s: %s", status, e.Error.Code, msg)
}

// do sends the request and decodes a 2xx answer into out (nil: none).
func (c *adminClient) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is known; do not repeat it
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return apiErrorOf(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the admin API's: %w", method, path, err)
	}
	return nil
}

func (c *adminClient) get(ctx context.Context, path string, q url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, q, nil, out)
}

// params collects query parameters, leaving out empty values.
type params url.Values

func (p params) set(name, v string) params {
	if v != "" {
		url.Values(p).Set(name, v)
	}
	return p
}

func (p params) time(name string, t time.Time) params {
	if !t.IsZero() {
		p.set(name, t.Format(time.RFC3339Nano))
	}
	return p
}

func (p params) page(pg enroll.Page) params {
	if pg.Limit != 0 {
		p.set("limit", strconv.Itoa(pg.Limit))
	}
	return p.set("cursor", pg.Cursor)
}

func (c *adminClient) Enrollments(ctx context.Context, q enroll.EnrollmentQuery) (out httpapi.AdminEnrollments, err error) {
	p := params{}.set("user", q.UserID).set("phone", q.Phone).set("state", q.State).set("outcome", q.Outcome).
		time("from", q.From).time("to", q.To).page(q.Page)
	return out, c.get(ctx, "/v1/admin/enrollments", url.Values(p), &out)
}

func (c *adminClient) Enrollment(ctx context.Context, id string) (out httpapi.AdminEnrollmentDetail, err error) {
	return out, c.get(ctx, "/v1/admin/enrollments/"+url.PathEscape(id), nil, &out)
}

func (c *adminClient) Blocked(ctx context.Context, pg enroll.Page) (out httpapi.BlockedNumbers, err error) {
	return out, c.get(ctx, "/v1/admin/blocked-numbers", url.Values(params{}.page(pg)), &out)
}

func (c *adminClient) Unblock(ctx context.Context, phone, reason string) (out httpapi.Unblocked, err error) {
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	n, err := enroll.NormalizePhone(phone, enroll.DefaultPhoneCountry)
	if err == nil {
		phone = n.E164 // the API takes E.164 only
	}
	return out, c.do(ctx, http.MethodDelete, "/v1/admin/blocked-numbers/"+url.PathEscape(phone), nil, body, &out)
}

func (c *adminClient) Fraud(ctx context.Context, q enroll.FraudQuery) (out httpapi.FraudReports, err error) {
	p := params{}.time("from", q.From).time("to", q.To).page(q.Page)
	return out, c.get(ctx, "/v1/admin/fraud-reports", url.Values(p), &out)
}

func (c *adminClient) OperatorEvents(ctx context.Context, target string, pg enroll.Page) (out httpapi.OperatorEvents, err error) {
	return out, c.get(ctx, "/v1/admin/operator-events", url.Values(params{}.set("target", target).page(pg)), &out)
}

func (c *adminClient) APIKeys(ctx context.Context) (out httpapi.APIKeys, err error) {
	return out, c.get(ctx, "/v1/admin/api-keys", nil, &out)
}

func (c *adminClient) CreateAPIKey(ctx context.Context, name string, scopes enroll.Scopes) (out httpapi.CreatedAPIKey, err error) {
	body := map[string]any{"name": name, "scopes": strings.Split(scopes.String(), ",")}
	return out, c.do(ctx, http.MethodPost, "/v1/admin/api-keys", nil, body, &out)
}

func (c *adminClient) RevokeAPIKey(ctx context.Context, name, reason string) error {
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	return c.do(ctx, http.MethodDelete, "/v1/admin/api-keys/"+url.PathEscape(name), nil, body, nil)
}

func (c *adminClient) Webhooks(ctx context.Context, q enroll.WebhookQuery) (out httpapi.Webhooks, err error) {
	return out, c.get(ctx, "/v1/admin/webhooks", url.Values(params{}.set("state", q.State).page(q.Page)), &out)
}

func (c *adminClient) Redeliver(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, "/v1/admin/webhooks/"+strconv.FormatInt(id, 10)+"/redeliver", nil, nil, nil)
}

func (c *adminClient) Summary(ctx context.Context, q enroll.SummaryQuery) (out httpapi.Summary, err error) {
	p := params{}.time("from", q.From).time("to", q.To)
	if q.Bucket != 0 {
		p.set("bucket", q.Bucket.String())
	}
	return out, c.get(ctx, "/v1/admin/summary", url.Values(p), &out)
}
