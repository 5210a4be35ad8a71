package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/enroll/httpapi"
)

func newWebhookCmd() *cobra.Command {
	var storeFlag, configFlag string
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "list the webhook outbox and redeliver the webhooks that were given up",
		Long: `webhook looks at the outbox of the store denwa serve uses. Each webhook is a
message: pending (to be sent, or retried with backoff), delivered (a 2xx answered
it) or dead (its last retry failed; it is kept with its last error and sent again
only when redelivered). A running denwa serve sends a redelivered message at its
next poll, under the same Denwa-Delivery header as before: receivers
de-duplicate on it.

The store is --store, else the store.path of the serve configuration (--config
or ` + config.FileEnv + `, then ` + storePathEnv + `), else ./denwa.db.

Exit codes: 0 when done; 1 when a message to redeliver is unknown or not dead
(the others are redelivered); 2 for a usage error or a store that cannot be
opened.`,
		Example: `  denwa webhook list --config /etc/denwa/denwa.json
  denwa webhook list --state all --json
  denwa webhook redeliver 17 18
  denwa webhook redeliver --all-dead`,
	}
	cmd.PersistentFlags().StringVar(&storeFlag, "store", "", "SQLite database file, or postgres:// URL (default: the serve configuration's store.path)")
	cmd.PersistentFlags().StringVar(&configFlag, "config", "", "the serve JSON config file whose store.path to use (also "+config.FileEnv+")")
	open := func(cmd *cobra.Command, fn func(context.Context, enroll.Store) error) error {
		path, err := webhookStorePath(storeFlag, configFlag)
		if err != nil {
			return err
		}
		return openExistingStore(cmd.Context(), path, fn)
	}

	var state string
	var asJSON bool
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "list the outbox's messages: ID, state, event, enrollment, attempts, last error (never the payload)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := enroll.ParseOutboxState(state)
			if err != nil {
				return &exitError{code: 2, msg: fmt.Sprintf("webhook list: --state %q: want pending, dead, delivered or all", state)}
			}
			if limit < 0 {
				return &exitError{code: 2, msg: "webhook list: --limit must be 0 (all) or more"}
			}
			return open(cmd, func(ctx context.Context, s enroll.Store) error {
				ms, err := s.ListOutbox(ctx, st, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeOutboxJSON(cmd.OutOrStdout(), ms)
				}
				return writeOutboxTable(cmd.OutOrStdout(), ms)
			})
		},
	}
	list.Flags().StringVar(&state, "state", enroll.OutboxDead.String(), "pending, dead, delivered or all")
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	list.Flags().IntVar(&limit, "limit", 0, "list at most this many, oldest first (0: all)")

	var allDead bool
	redeliver := &cobra.Command{
		Use:   "redeliver ID…|--all-dead",
		Short: "send dead messages again: back to pending with their attempts reset; a running serve sends them at its next poll",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case allDead && len(args) > 0:
				return &exitError{code: 2, msg: "webhook redeliver: give message IDs or --all-dead, not both"}
			case !allDead && len(args) == 0:
				return &exitError{code: 2, msg: "webhook redeliver: give the IDs of dead messages (denwa webhook list), or --all-dead"}
			}
			ids := make([]int64, len(args))
			for i, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil || id <= 0 {
					return &exitError{code: 2, msg: fmt.Sprintf("webhook redeliver: %q is no message ID (see denwa webhook list)", a)}
				}
				ids[i] = id
			}
			return open(cmd, func(ctx context.Context, s enroll.Store) error {
				if allDead {
					ms, err := s.ListOutbox(ctx, enroll.OutboxDead, 0)
					if err != nil {
						return err
					}
					for _, m := range ms {
						ids = append(ids, m.ID)
					}
					if len(ids) == 0 {
						fmt.Fprintln(cmd.ErrOrStderr(), "no dead webhook messages")
						return nil
					}
				}
				a, err := localAdmin(s)
				if err != nil {
					return err
				}
				return redeliverOutbox(ctx, localRedeliver(a), cmd.ErrOrStderr(), ids)
			})
		},
	}
	redeliver.Flags().BoolVar(&allDead, "all-dead", false, "redeliver every dead message")
	cmd.AddCommand(list, redeliver)
	return cmd
}

// webhookStorePath is the store the webhook commands use: --store, else
// the store.path the serve configuration gives (file, environment,
// default), with --config standing for DENWA_CONFIG.
func webhookStorePath(storeFlag, configFlag string) (string, error) {
	if storeFlag != "" {
		return storeFlag, nil
	}
	l := config.Loader{
		Getenv: func(k string) (string, bool) {
			if k == config.FileEnv && configFlag != "" {
				return configFlag, true
			}
			return lookupEnv(k)
		},
		ReadFile: os.ReadFile,
	}
	cfg, _, err := l.Load()
	if err != nil {
		return "", &exitError{code: 2, msg: "webhook: configuration: " + err.Error()}
	}
	return cfg.Store.Path, nil
}

// openExistingStore opens the store at path for fn; a missing file is an
// error (these commands never create a store).
func openExistingStore(ctx context.Context, path string, fn func(context.Context, enroll.Store) error) error {
	return withStore(ctx, "webhook", path, false, fn)
}

// redeliverOutbox redelivers each message of ids through redeliver (an
// enroll.Admin's, or the admin API's), reporting each on stderr; an
// unknown or undead message fails the command (exit 1) after the others
// are done.
func redeliverOutbox(ctx context.Context, redeliver func(context.Context, int64) error, stderr io.Writer, ids []int64) error {
	failed := 0
	for _, id := range ids {
		err := redeliver(ctx, id)
		switch {
		case err == nil:
			fmt.Fprintf(stderr, "redelivered %d\n", id)
			continue
		case errors.Is(err, enroll.ErrNotFound):
			fmt.Fprintf(stderr, "denwa: webhook redeliver: no message %d\n", id)
		case errors.Is(err, enroll.ErrOutboxNotDead):
			fmt.Fprintf(stderr, "denwa: webhook redeliver: message %d is not dead (only a dead message is redelivered)\n", id)
		default:
			return err
		}
		failed++
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("webhook redeliver: %d of %d not redelivered", failed, len(ids))}
	}
	return nil
}

// writeOutboxTable prints one line a message.
func writeOutboxTable(w io.Writer, ms []enroll.OutboxMessage) error {
	return writeWebhookTable(w, httpapi.Webhooks{Webhooks: httpapi.WebhooksOf(ms)})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// outboxJSON is a message as `webhook list --json` prints it: as the
// admin API shows it.
type outboxJSON = httpapi.Webhook

func writeOutboxJSON(w io.Writer, ms []enroll.OutboxMessage) error {
	return printJSON(w, httpapi.WebhooksOf(ms))
}
