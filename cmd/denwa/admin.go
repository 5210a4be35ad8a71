package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"denwa/enroll"
	"denwa/enroll/httpapi"
)

// The environment `denwa admin` reads to reach a running service. The key
// is never a flag: flags end up in shell histories and process lists.
const (
	adminURLEnv = "DENWA_ADMIN_URL"
	adminKeyEnv = "DENWA_ADMIN_KEY"
)

// localOrigin is who `denwa admin --store` (and `denwa apikey`, `denwa
// webhook`) is in the operator events: someone at the store itself.
var localOrigin = enroll.Origin{Actor: enroll.ActorLocal}

// localAdmin is the operators' view of a store opened here.
func localAdmin(st enroll.Store) (*enroll.Admin, error) {
	return enroll.NewAdmin(enroll.AdminConfig{Store: st})
}

// localRedeliver redelivers through a, as the local actor.
func localRedeliver(a *enroll.Admin) func(context.Context, int64) error {
	return func(ctx context.Context, id int64) error { return a.Redeliver(ctx, id, localOrigin) }
}

// adminBackend is what `denwa admin` works on: a running service through
// its admin API (adminClient), or a store directly (storeAdmin). Both
// answer in the admin API's types, so that --json prints the same either
// way; errors wrap enroll's sentinels (ErrNotFound, ErrInvalidInput, …).
type adminBackend interface {
	Enrollments(ctx context.Context, q enroll.EnrollmentQuery) (httpapi.AdminEnrollments, error)
	Enrollment(ctx context.Context, id string) (httpapi.AdminEnrollmentDetail, error)
	Blocked(ctx context.Context, p enroll.Page) (httpapi.BlockedNumbers, error)
	Unblock(ctx context.Context, phone, reason string) (httpapi.Unblocked, error)
	Fraud(ctx context.Context, q enroll.FraudQuery) (httpapi.FraudReports, error)
	OperatorEvents(ctx context.Context, target string, p enroll.Page) (httpapi.OperatorEvents, error)
	APIKeys(ctx context.Context) (httpapi.APIKeys, error)
	CreateAPIKey(ctx context.Context, name string, scopes enroll.Scopes) (httpapi.CreatedAPIKey, error)
	RevokeAPIKey(ctx context.Context, name, reason string) error
	Webhooks(ctx context.Context, q enroll.WebhookQuery) (httpapi.Webhooks, error)
	Redeliver(ctx context.Context, id int64) error
	Summary(ctx context.Context, q enroll.SummaryQuery) (httpapi.Summary, error)
}

// adminFlags are the flags every `denwa admin` command shares.
type adminFlags struct {
	store  string
	asJSON bool
}

func newAdminCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "the operators' view: enrollments and their calls, blocked numbers, fraud reports, API keys, webhooks",
		Long: `admin shows and changes what operators look after, against a running denwa
serve through its admin API, or directly against its store.

A running service: set ` + adminURLEnv + ` (its API, as https://denwa.example.com)
and ` + adminKeyEnv + ` (an API key with the admin scope: denwa apikey create ops
--scope admin). The key is read from the environment only. Changes are recorded
as operator events naming the key.

The store: --store PATH (the service may be running on it). Changes are recorded
as operator events of the actor "local".

Output is a table; --json prints what the admin API answers.

Exit codes: 0 when done; 1 when what was named does not exist or is not in a
state that allows it; 2 for a usage error, a bad filter, or a service or store
that cannot be reached.`,
		Example: `  export DENWA_ADMIN_URL=https://denwa.example.com DENWA_ADMIN_KEY=dnw_…
  denwa admin enrollments list --user u-1001
  denwa admin enrollments show 9mG4vXcQ0uQk3yJQk2a1Aw
  denwa admin fraud list --from 2026-12-01T00:00:00Z
  denwa admin blocked unblock +81312345678 --reason "pressed 0# by mistake"
  denwa admin summary --json
  denwa admin keys list --store /var/lib/denwa/denwa.db`,
	}
	cmd.PersistentFlags().StringVar(&f.store, "store", "", "work on this SQLite store directly instead of a running service")
	cmd.PersistentFlags().BoolVar(&f.asJSON, "json", false, "print the admin API's JSON instead of a table")
	cmd.AddCommand(adminEnrollmentsCmd(&f), adminBlockedCmd(&f), adminFraudCmd(&f), adminKeysCmd(&f),
		adminWebhooksCmd(&f), adminSummaryCmd(&f), adminLogCmd(&f))
	return cmd
}

// with runs fn on the backend the flags and the environment choose.
func (f *adminFlags) with(cmd *cobra.Command, fn func(context.Context, adminBackend) error) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if f.store != "" {
		return withAdminStore(ctx, f.store, func(ctx context.Context, st enroll.Store) error {
			a, err := localAdmin(st)
			if err != nil {
				return err
			}
			return adminError(fn(ctx, storeAdmin{a: a, v: httpapi.AdminView{MaxAttempts: enroll.DefaultMaxAttempts}}))
		})
	}
	base, _ := lookupEnv(adminURLEnv)
	key, _ := lookupEnv(adminKeyEnv)
	if base == "" || key == "" {
		return &exitError{code: 2, msg: "admin: set " + adminURLEnv + " and " + adminKeyEnv + " (an admin-scoped API key) to reach a running service, or give --store"}
	}
	c, err := newAdminClient(base, key)
	if err != nil {
		return &exitError{code: 2, msg: "admin: " + adminURLEnv + ": " + err.Error()}
	}
	return adminError(fn(ctx, c))
}

// withAdminStore opens the store at path (a file or a postgres:// URL) as
// `denwa apikey` does.
func withAdminStore(ctx context.Context, path string, fn func(context.Context, enroll.Store) error) error {
	return withStore(ctx, "admin", path, false, fn)
}

// adminError gives enroll's sentinels their exit codes and messages.
func adminError(err error) error {
	var ec exitCoder
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ec):
		return err
	case errors.Is(err, enroll.ErrInvalidInput):
		msg := err.Error()
		if _, why, ok := strings.Cut(msg, enroll.ErrInvalidInput.Error()+": "); ok {
			msg = why
		}
		return &exitError{code: 2, msg: "admin: " + msg}
	case errors.Is(err, enroll.ErrNotFound), errors.Is(err, enroll.ErrOutboxNotDead), errors.Is(err, enroll.ErrConflict):
		return &exitError{code: 1, msg: "admin: " + strings.TrimPrefix(err.Error(), "enroll: ")}
	}
	return &exitError{code: 2, msg: "admin: " + err.Error()}
}

// timeFlag is a flag holding an RFC 3339 time.
type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time, as 2026-12-06T09:00:00+09:00")
	}
	*f.t = t
	return nil
}

func (timeFlag) Type() string { return "time" }

// pageFlags adds --limit and --cursor.
func pageFlags(cmd *cobra.Command, p *enroll.Page) {
	cmd.Flags().IntVar(&p.Limit, "limit", 0, fmt.Sprintf("at most this many (1 to %d; default %d)", enroll.MaxPageSize, enroll.DefaultPageSize))
	cmd.Flags().StringVar(&p.Cursor, "cursor", "", "continue after the page that printed this cursor")
}

func windowFlags(cmd *cobra.Command, from, to *time.Time, what string) {
	cmd.Flags().Var(timeFlag{from}, "from", "only "+what+" at or after this RFC 3339 time")
	cmd.Flags().Var(timeFlag{to}, "to", "only "+what+" before this RFC 3339 time")
}

// show is the RunE of a command that gets v from the backend and prints
// it: as JSON with --json, else with table.
func show[T any](f *adminFlags, get func(context.Context, adminBackend, []string) (T, error), table func(*cobra.Command, T) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return f.with(cmd, func(ctx context.Context, b adminBackend) error {
			v, err := get(ctx, b, args)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return table(cmd, v)
		})
	}
}

// paged prints a page's table, and on stderr how to get the next page.
func paged[T any](next func(T) string, table func(io.Writer, T) error) func(*cobra.Command, T) error {
	return func(cmd *cobra.Command, v T) error {
		if n := next(v); n != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "more: --cursor %s\n", n)
		}
		return table(cmd.OutOrStdout(), v)
	}
}

func adminEnrollmentsCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "enrollments", Short: "search the enrollments; show one with its call timeline"}
	var q enroll.EnrollmentQuery
	list := &cobra.Command{
		Use:   "list",
		Short: "the enrollments, newest first, by user, number, state, outcome, creation time",
		Args:  cobra.NoArgs,
		RunE: show(f, func(ctx context.Context, b adminBackend, _ []string) (httpapi.AdminEnrollments, error) {
			return b.Enrollments(ctx, q)
		}, paged(func(p httpapi.AdminEnrollments) string { return p.NextCursor }, writeEnrollmentTable)),
	}
	list.Flags().StringVar(&q.UserID, "user", "", "the organisation's user ID")
	list.Flags().StringVar(&q.Phone, "phone", "", "the number, any form (03-1234-5678, +81312345678)")
	list.Flags().StringVar(&q.State, "state", "", "pending, calling, verified, completed, failed or expired")
	list.Flags().StringVar(&q.Outcome, "outcome", "", "of the last call: verified, no-answer, busy, …, fraud-reported, failed")
	windowFlags(list, &q.From, &q.To, "enrollments created")
	pageFlags(list, &q.Page)
	show := &cobra.Command{
		Use:   "show ID",
		Short: "one enrollment with its timeline: states, calls and their node, keys heard and their source, outcomes, causes",
		Args:  cobra.ExactArgs(1),
		RunE: show(f, func(ctx context.Context, b adminBackend, args []string) (httpapi.AdminEnrollmentDetail, error) {
			return b.Enrollment(ctx, args[0])
		}, func(cmd *cobra.Command, d httpapi.AdminEnrollmentDetail) error {
			return writeEnrollmentDetail(cmd.OutOrStdout(), d)
		}),
	}
	cmd.AddCommand(list, show)
	return cmd
}

func adminBlockedCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "blocked", Short: "the blocked numbers; lift a block"}
	var p enroll.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "the blocked numbers, newest block first",
		Args:  cobra.NoArgs,
		RunE: show(f, func(ctx context.Context, b adminBackend, _ []string) (httpapi.BlockedNumbers, error) {
			return b.Blocked(ctx, p)
		}, paged(func(p httpapi.BlockedNumbers) string { return p.NextCursor }, writeBlockedTable)),
	}
	pageFlags(list, &p)
	var reason string
	unblock := &cobra.Command{
		Use:   "unblock NUMBER",
		Short: "lift the block on NUMBER (E.164, or national for JP): new enrollments may call it again",
		Args:  cobra.ExactArgs(1),
		RunE: show(f, func(ctx context.Context, b adminBackend, args []string) (httpapi.Unblocked, error) {
			return b.Unblock(ctx, args[0], reason)
		}, func(cmd *cobra.Command, u httpapi.Unblocked) error {
			fmt.Fprintf(cmd.ErrOrStderr(), "unblocked %s (blocked %s, %s); recorded as %s by %s\n", u.Unblocked.Phone,
				timeOrDash(u.Unblocked.BlockedAt), u.Unblocked.Reason, u.OperatorEvent.ID, u.OperatorEvent.Actor)
			return nil
		}),
	}
	unblock.Flags().StringVar(&reason, "reason", "", "why, for the operator events")
	cmd.AddCommand(list, unblock)
	return cmd
}

func adminFraudCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "fraud", Short: "the fraud reports (0# pressed)"}
	var q enroll.FraudQuery
	list := &cobra.Command{
		Use:   "list",
		Short: "the fraud reports, newest first, each with its enrollment and whether the number is still blocked",
		Args:  cobra.NoArgs,
		RunE: show(f, func(ctx context.Context, b adminBackend, _ []string) (httpapi.FraudReports, error) {
			return b.Fraud(ctx, q)
		}, paged(func(p httpapi.FraudReports) string { return p.NextCursor }, writeFraudTable)),
	}
	windowFlags(list, &q.From, &q.To, "reports")
	pageFlags(list, &q.Page)
	cmd.AddCommand(list)
	return cmd
}

func adminKeysCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "the API keys: list, create, revoke (as denwa apikey, also through the API)"}
	list := &cobra.Command{
		Use:   "list",
		Short: "the keys: name, scopes, created, revoked (never the keys)",
		Args:  cobra.NoArgs,
		RunE: show(f, func(ctx context.Context, b adminBackend, _ []string) (httpapi.APIKeys, error) {
			return b.APIKeys(ctx)
		}, func(cmd *cobra.Command, ks httpapi.APIKeys) error {
			return writeKeyTable(cmd.OutOrStdout(), ks.APIKeys)
		}),
	}
	var scope string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "create a key named NAME with --scope and print it once on standard output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			scopes, err := enroll.ParseScopes(scope)
			if err != nil {
				return &exitError{code: 2, msg: fmt.Sprintf("admin keys create: --scope %q: want enroll, check or admin, comma-separated", scope)}
			}
			return show(f, func(ctx context.Context, b adminBackend, args []string) (httpapi.CreatedAPIKey, error) {
				k, err := b.CreateAPIKey(ctx, args[0], scopes)
				if err != nil {
					return k, keyError("admin keys create", args[0], err)
				}
				return k, nil
			}, func(cmd *cobra.Command, k httpapi.CreatedAPIKey) error {
				printCreatedKey(cmd.OutOrStdout(), cmd.ErrOrStderr(), k)
				return nil
			})(cmd, args)
		},
	}
	create.Flags().StringVar(&scope, "scope", defaultAPIKeyScopes.String(), "what the key may do: enroll, check, admin (comma-separated)")
	var reason string
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "revoke the key named NAME: requests with it are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.with(cmd, func(ctx context.Context, b adminBackend) error {
				if err := b.RevokeAPIKey(ctx, args[0], reason); err != nil {
					return keyError("admin keys revoke", args[0], err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "revoked %s\n", args[0])
				return nil
			})
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why, for the operator events")
	cmd.AddCommand(list, create, revoke)
	return cmd
}

func adminWebhooksCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Short: "the webhooks not delivered; redeliver the dead ones"}
	var q enroll.WebhookQuery
	list := &cobra.Command{
		Use:   "list",
		Short: "the messages not delivered, oldest first: --state dead (default), pending or undelivered",
		Args:  cobra.NoArgs,
		RunE: show(f, func(ctx context.Context, b adminBackend, _ []string) (httpapi.Webhooks, error) {
			return b.Webhooks(ctx, q)
		}, paged(func(p httpapi.Webhooks) string { return p.NextCursor }, writeWebhookTable)),
	}
	list.Flags().StringVar(&q.State, "state", "dead", "dead, pending or undelivered (both)")
	pageFlags(list, &q.Page)
	redeliver := &cobra.Command{
		Use:   "redeliver ID…",
		Short: "send dead messages again: back to pending; a running serve sends them at its next poll",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]int64, len(args))
			for i, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil || id <= 0 {
					return &exitError{code: 2, msg: fmt.Sprintf("admin webhooks redeliver: %q is no message ID (see denwa admin webhooks list)", a)}
				}
				ids[i] = id
			}
			return f.with(cmd, func(ctx context.Context, b adminBackend) error {
				return redeliverOutbox(ctx, b.Redeliver, cmd.ErrOrStderr(), ids)
			})
		},
	}
	cmd.AddCommand(list, redeliver)
	return cmd
}

func adminSummaryCmd(f *adminFlags) *cobra.Command {
	var q enroll.SummaryQuery
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "how the calls of a window went (default: the last day): outcomes, key sources, causes, answer-to-key times",
		Args:  cobra.NoArgs,
		RunE: show(f, func(ctx context.Context, b adminBackend, _ []string) (httpapi.Summary, error) {
			return b.Summary(ctx, q)
		}, func(cmd *cobra.Command, s httpapi.Summary) error { return writeSummary(cmd.OutOrStdout(), s) }),
	}
	windowFlags(cmd, &q.From, &q.To, "calls that ended")
	cmd.Flags().DurationVar(&q.Bucket, "bucket", 0, "the width of the series' buckets (--json), as 15m or 1h; default: at most 48")
	return cmd
}

func adminLogCmd(f *adminFlags) *cobra.Command {
	var p enroll.Page
	var target string
	cmd := &cobra.Command{
		Use:   "log",
		Short: "what operators did, newest first: unblocks, keys made and revoked, app passwords revoked, redeliveries",
		Args:  cobra.NoArgs,
		RunE: show(f, func(ctx context.Context, b adminBackend, _ []string) (httpapi.OperatorEvents, error) {
			return b.OperatorEvents(ctx, target, p)
		}, paged(func(p httpapi.OperatorEvents) string { return p.NextCursor }, writeOperatorTable)),
	}
	cmd.Flags().StringVar(&target, "target", "", "only the events about this number, key name or message ID")
	pageFlags(cmd, &p)
	return cmd
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeEnrollmentTable(w io.Writer, p httpapi.AdminEnrollments) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tPHONE\tSTATE\tOUTCOME\tATTEMPTS\tCREATED\tNODE")
	for _, e := range p.Enrollments {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.UserID, e.Phone, e.State, e.Outcome, e.Attempts,
			timeOrDash(e.CreatedAt), orDash(e.Node))
	}
	return tw.Flush()
}

func writeEnrollmentDetail(w io.Writer, d httpapi.AdminEnrollmentDetail) error {
	e := d.Enrollment
	fmt.Fprintf(w, "enrollment %s\n  user     %s\n  phone    %s\n  state    %s (outcome %s, %d of %d attempts)\n",
		e.ID, e.UserID, e.Phone, e.State, e.Outcome, e.Attempts, e.MaxAttempts)
	if e.Cause != "" {
		fmt.Fprintf(w, "  cause    %s\n", e.Cause)
	}
	fmt.Fprintf(w, "  created  %s\n", timeOrDash(e.CreatedAt))
	if d.Block != nil {
		fmt.Fprintf(w, "  blocked  since %s (%s)\n", timeOrDash(d.Block.BlockedAt), d.Block.Reason)
	}
	fmt.Fprintln(w, "\ntimeline:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTION\tSTATE\tOUTCOME\tKEYS\tSOURCE\tANSWER→KEY\tNODE\tACTOR\tCAUSE")
	for _, ev := range d.Timeline {
		wait := "-"
		if !ev.AnsweredAt.IsZero() && !ev.KeyAt.IsZero() {
			wait = ev.KeyAt.Sub(ev.AnsweredAt).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s→%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", timeOrDash(ev.At), ev.Action, ev.From, ev.To,
			ev.Outcome, orDash(ev.Keys), orDash(ev.KeySource), wait, orDash(ev.Node), ev.Actor, orDash(ev.Cause))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.OperatorEvents) > 0 {
		fmt.Fprintln(w, "\noperator events:")
		return writeOperatorTable(w, httpapi.OperatorEvents{Events: d.OperatorEvents})
	}
	return nil
}

func writeOperatorTable(w io.Writer, p httpapi.OperatorEvents) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tTARGET\tREASON\tENROLLMENT")
	for _, ev := range p.Events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", timeOrDash(ev.At), ev.Actor, ev.Action, orDash(ev.Target), orDash(ev.Reason), orDash(ev.EnrollmentID))
	}
	return tw.Flush()
}

func writeBlockedTable(w io.Writer, p httpapi.BlockedNumbers) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHONE\tBLOCKED\tREASON\tENROLLMENT")
	for _, b := range p.BlockedNumbers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Phone, timeOrDash(b.BlockedAt), b.Reason, orDash(b.EnrollmentID))
	}
	return tw.Flush()
}

func writeFraudTable(w io.Writer, p httpapi.FraudReports) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tPHONE\tUSER\tENROLLMENT\tKEYS\tSOURCE\tBLOCKED")
	for _, r := range p.Reports {
		blocked := "no (unblocked)"
		if r.Blocked {
			blocked = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", timeOrDash(r.At), r.Enrollment.Phone, r.Enrollment.UserID, r.Enrollment.ID,
			orDash(r.Keys), orDash(r.KeySource), blocked)
	}
	return tw.Flush()
}

// writeKeyTable prints the keys, as `denwa apikey list` always has.
func writeKeyTable(w io.Writer, ks []httpapi.APIKey) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCOPES\tCREATED\tREVOKED")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, strings.Join(k.Scopes, ","), timeOrDash(k.CreatedAt), timeOrDash(k.RevokedAt))
	}
	return tw.Flush()
}

// writeWebhookTable prints one line a message, as `denwa webhook list`
// always has; AT is when it was delivered, when it died, or its next
// attempt.
func writeWebhookTable(w io.Writer, p httpapi.Webhooks) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tEVENT\tENROLLMENT\tCREATED\tATTEMPTS\tAT\tLAST ERROR")
	for _, m := range p.Webhooks {
		at := m.NextAttemptAt
		switch {
		case !m.DeliveredAt.IsZero():
			at = m.DeliveredAt
		case !m.DeadAt.IsZero():
			at = m.DeadAt
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.State, m.Event, orDash(m.EnrollmentID),
			timeOrDash(m.CreatedAt), m.Attempts, timeOrDash(at), orDash(m.LastError))
	}
	return tw.Flush()
}

func writeSummary(w io.Writer, s httpapi.Summary) error {
	fmt.Fprintf(w, "calls that ended %s – %s: %d (in progress now: %d)\n", timeOrDash(s.From), timeOrDash(s.To), s.Calls, s.InProgress)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTCOME\tCALLS")
	for _, o := range sortedKeys(s.Outcomes) {
		fmt.Fprintf(tw, "%s\t%d\n", o, s.Outcomes[o])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.KeySources) > 0 {
		var parts []string
		for _, k := range sortedKeys(s.KeySources) {
			parts = append(parts, fmt.Sprintf("%s %d", k, s.KeySources[k]))
		}
		fmt.Fprintf(w, "key sources: %s\n", strings.Join(parts, ", "))
	}
	if a := s.AnswerToKey; a.Count > 0 {
		fmt.Fprintf(w, "answer to key (%d verified calls): median %v, p95 %v\n", a.Count,
			time.Duration(a.MedianMS)*time.Millisecond, time.Duration(a.P95MS)*time.Millisecond)
	}
	for _, c := range s.Causes {
		fmt.Fprintf(w, "failed %d×: %s\n", c.Count, c.Cause)
	}
	return nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// storeAdmin is the backend of --store: enroll.Admin on the store, its
// answers rendered as the admin API renders them.
type storeAdmin struct {
	a *enroll.Admin
	v httpapi.AdminView
}

func (s storeAdmin) Enrollments(ctx context.Context, q enroll.EnrollmentQuery) (httpapi.AdminEnrollments, error) {
	p, err := s.a.Enrollments(ctx, q)
	return s.v.Enrollments(p), err
}

func (s storeAdmin) Enrollment(ctx context.Context, id string) (httpapi.AdminEnrollmentDetail, error) {
	d, err := s.a.Enrollment(ctx, id)
	if err != nil {
		return httpapi.AdminEnrollmentDetail{}, err
	}
	return s.v.Detail(d), nil
}

func (s storeAdmin) Blocked(ctx context.Context, p enroll.Page) (httpapi.BlockedNumbers, error) {
	out, err := s.a.BlockedNumbers(ctx, p)
	return s.v.Blocked(out), err
}

func (s storeAdmin) Unblock(ctx context.Context, phone, reason string) (httpapi.Unblocked, error) {
	b, ev, err := s.a.UnblockRecorded(ctx, phone, reason, localOrigin)
	return s.v.Unblocked(b, ev), err
}

func (s storeAdmin) Fraud(ctx context.Context, q enroll.FraudQuery) (httpapi.FraudReports, error) {
	p, err := s.a.FraudReports(ctx, q)
	return s.v.Fraud(p), err
}

func (s storeAdmin) OperatorEvents(ctx context.Context, target string, p enroll.Page) (httpapi.OperatorEvents, error) {
	out, err := s.a.OperatorEvents(ctx, target, p)
	return s.v.OperatorEvents(out), err
}

func (s storeAdmin) APIKeys(ctx context.Context) (httpapi.APIKeys, error) {
	ks, err := s.a.APIKeys(ctx)
	return s.v.APIKeys(ks), err
}

func (s storeAdmin) CreateAPIKey(ctx context.Context, name string, scopes enroll.Scopes) (httpapi.CreatedAPIKey, error) {
	plain, k, err := s.a.CreateAPIKey(ctx, name, scopes, localOrigin)
	return s.v.CreatedAPIKey(plain, k), err
}

func (s storeAdmin) RevokeAPIKey(ctx context.Context, name, reason string) error {
	return s.a.RevokeAPIKey(ctx, name, reason, localOrigin)
}

func (s storeAdmin) Webhooks(ctx context.Context, q enroll.WebhookQuery) (httpapi.Webhooks, error) {
	p, err := s.a.Webhooks(ctx, q)
	return s.v.Webhooks(p), err
}

func (s storeAdmin) Redeliver(ctx context.Context, id int64) error {
	return s.a.Redeliver(ctx, id, localOrigin)
}

func (s storeAdmin) Summary(ctx context.Context, q enroll.SummaryQuery) (httpapi.Summary, error) {
	sum, err := s.a.Summary(ctx, q)
	return s.v.Summary(sum), err
}
