package console

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"denwa/enroll"
)

type keyRow struct {
	Name, Scopes, Created, Revoked string
	Active, Self                   bool
}

type keysView struct {
	Rows []keyRow
	// The creation form, filled again after a refusal.
	Name   string
	Scopes []option
}

// scopeChoices are the scopes the creation form offers, in order.
var scopeChoices = []enroll.Scopes{enroll.ScopeEnroll, enroll.ScopeCheck, enroll.ScopeAdmin}

// getKeys lists the API keys (never their hashes, which Admin does not
// even return) with a form to make one and a 「失効させる」 button each.
func (s *Server) getKeys(q *req) error {
	p, err := s.keysPage(q, "", enroll.ScopeEnroll)
	if err != nil {
		return err
	}
	if n := q.r.URL.Query().Get("revoked"); n != "" && enroll.ActorAPIKey(n).Valid() {
		p.Notice = fmt.Sprintf(q.t.RevokedDone, n)
	}
	s.render(q, http.StatusOK, "keys", p)
	return nil
}

func (s *Server) keysPage(q *req, name string, checked enroll.Scopes) (*page, error) {
	ks, err := s.admin.APIKeys(q.r.Context())
	if err != nil {
		return nil, s.serviceError(q, err)
	}
	v := keysView{Name: name}
	for _, sc := range scopeChoices {
		v.Scopes = append(v.Scopes, option{sc.String(), sc.String(), checked&sc != 0})
	}
	for _, k := range ks {
		v.Rows = append(v.Rows, keyRow{Name: k.Name, Scopes: k.Scopes.String(), Created: s.timeText(k.CreatedAt),
			Revoked: s.timeText(k.RevokedAt), Active: k.RevokedAt.IsZero(), Self: k.Name == q.sess.Name})
	}
	p := s.newPage(q, q.t.KeysTitle)
	p.Nav, p.Data = "keys", v
	return p, nil
}

type newKeyView struct {
	Name, Scopes, Key string
}

// postKey makes an API key with the name and scopes of the form and shows
// it once, on this response only (no-store): it is kept nowhere, and no
// page shows it again.
func (s *Server) postKey(q *req) error {
	name := strings.TrimSpace(q.r.PostFormValue("name"))
	var scopes enroll.Scopes
	for _, v := range q.r.PostForm["scope"] {
		sc, err := enroll.ParseScopes(v)
		if err != nil {
			return &HTTPError{Code: http.StatusBadRequest, Msg: q.t.BadInput, Err: err}
		}
		scopes |= sc
	}
	plain, k, err := s.admin.CreateAPIKey(q.r.Context(), name, scopes, q.origin())
	if err != nil {
		he := s.serviceError(q, err)
		if he.Code >= 500 {
			return he
		}
		p, perr := s.keysPage(q, name, scopes)
		if perr != nil {
			return perr
		}
		p.Message = he.Msg
		s.render(q, he.Code, "keys", p)
		return nil
	}
	s.log.LogAttrs(q.r.Context(), slog.LevelInfo, "console API key created", slog.String("api_key", q.sess.Name),
		slog.String("created", k.Name), slog.String("scopes", k.Scopes.String()), slog.String("request_id", q.id))
	q.w.Header().Set("Pragma", "no-cache")
	p := s.newPage(q, q.t.NewKeyTitle)
	p.Nav, p.Data = "keys", newKeyView{Name: k.Name, Scopes: k.Scopes.String(), Key: plain}
	s.render(q, http.StatusOK, "newkey", p)
	return nil
}

// postRevokeKey is 「失効させる」: the key named in the form is refused
// from now on, by the API and here (a session made with it ends at its
// next request).
func (s *Server) postRevokeKey(q *req) error {
	name := q.r.PostFormValue("name")
	reason := strings.TrimSpace(q.r.PostFormValue("reason"))
	if err := s.admin.RevokeAPIKey(q.r.Context(), name, reason, q.origin()); err != nil {
		return s.serviceError(q, err)
	}
	http.Redirect(q.w, q.r, Prefix+"/keys?revoked="+url.QueryEscape(name), http.StatusSeeOther)
	return nil
}
