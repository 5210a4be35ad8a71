package console

import (
	"fmt"
	"html/template"
	"net/url"
	"time"

	"denwa/enroll"
)

// page is what every template gets: the common frame and, in Data, the
// page's own view.
type page struct {
	T        *msgs
	Heading  string
	Nav      string // the current section: "overview", "enrollments", …
	Signed   string // the signed-in key's name; empty on the sign-in page
	CSRF     string
	LangHref string // this page in the other language ("?lang=en&…")
	Notice   string // a done action's confirmation
	Message  string // an error
	Next     string // sign-in: where to go after
	Data     any
}

var funcs = template.FuncMap{
	"printf": fmt.Sprintf,
}

// newPage starts the page of q: signed in (with the CSRF token of its
// forms) when q has a session.
func (s *Server) newPage(q *req, heading string) *page {
	p := &page{T: q.t, Heading: heading}
	if q.sess.ID != "" {
		p.Signed = q.sess.Name
		p.CSRF = s.csrfToken(q.sess)
	}
	v := url.Values{}
	if q.r.Method == "GET" {
		v = q.r.URL.Query()
	}
	v.Set("lang", q.t.OtherLang)
	p.LangHref = "?" + v.Encode()
	return p
}

// timeText shows t in the console's time zone; "—" for the zero time.
func (s *Server) timeText(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(s.cfg.Location).Format("2006-01-02 15:04:05")
}

// phoneText is an E.164 number as people read it ("+81 3-1234-5678").
func phoneText(e164 string) string {
	if n, err := enroll.ParseE164(e164); err == nil {
		return n.Display
	}
	return e164
}

// outcomeText is an outcome's name in the page's language, or "—".
func (m *msgs) outcomeText(o enroll.Outcome) string {
	if t, ok := m.Outcomes[o]; ok {
		return t
	}
	return "—"
}

func (m *msgs) stateText(st enroll.State) string {
	if t, ok := m.States[st]; ok {
		return t
	}
	return st.String()
}

func (m *msgs) actionText(a string) string {
	if t, ok := m.Actions[a]; ok {
		return t
	}
	return a
}
