package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"denwa/enroll"
)

// apiCodeUnavailable is the error code of a 503.
const apiCodeUnavailable = "unavailable"

type apiParams struct {
	svc            *enroll.Service
	store          enroll.Store
	links          *enroll.LinkSigner
	policy         enroll.PhonePolicy
	defaultCountry string
	linkTTL        time.Duration
	baseURL        string
	maxBody        int64
	log            *slog.Logger
}

// interimAPI serves /healthz and /readyz until package httpapi lands.
type interimAPI struct{ p apiParams }

func newAPI(p apiParams) (apiServer, error) { return &interimAPI{p}, nil }

func (a *interimAPI) Close() {}

func (a *interimAPI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := a.p.store.GetEnrollment(ctx, "readyz-probe"); !errors.Is(err, enroll.ErrNotFound) {
			unavailable(w, "ストアに届きません。", "store unreachable")
			return
		}
		w.Write([]byte(`{"status":"ready"}`))
	})
	return mux
}

func newWebhookRunner(st enroll.Store, url string, secret []byte, log *slog.Logger) (webhookRunner, error) {
	return nil, errors.New("webhook delivery is not available in this build yet")
}
