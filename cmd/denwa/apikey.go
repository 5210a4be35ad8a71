package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/enroll/store/sqlite"
)

// storePathEnv names the store for `denwa apikey` as for `denwa serve`.
var storePathEnv = config.EnvName("store.path")

func newAPIKeyCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "create, list and revoke the API keys systems use to call denwa serve",
		Long: `apikey manages the API keys in the store that denwa serve uses. A system sends
its key as "Authorization: Bearer dnw_…". Only a hash of each key is stored:
create prints the key once, and it cannot be shown again (create a new one and
revoke the old one instead). The store may be in use by a running denwa serve.

The store is --store, else ` + storePathEnv + `, else ./denwa.db.`,
		Example: `  denwa apikey create crm --store /var/lib/denwa/denwa.db
  denwa apikey list
  denwa apikey revoke crm`,
	}
	cmd.PersistentFlags().StringVar(&path, "store", "", "SQLite database file (default: "+storePathEnv+", else ./denwa.db)")
	storePath := func() string {
		if path != "" {
			return path
		}
		if v, ok := lookupEnv(storePathEnv); ok && v != "" {
			return v
		}
		return config.DefaultStorePath
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "create NAME",
			Short: "create a key named NAME (who uses it: crm, mail-gateway) and print it once",
			Long: `create makes a new API key for the system called NAME and prints it, once, on
standard output (nothing else goes there, so it can be captured). NAME is what
the audit trail shows for the key's changes: 1 to 64 characters from
A-Z a-z 0-9 . _ -, unique among the keys.`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withStore(cmd.Context(), storePath(), true, func(ctx context.Context, st *sqlite.Store) error {
					return createAPIKey(ctx, st, cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], time.Now())
				})
			},
		},
		&cobra.Command{
			Use:   "list",
			Short: "list the keys: name, created, revoked (never the keys)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return withStore(cmd.Context(), storePath(), false, func(ctx context.Context, st *sqlite.Store) error {
					return listAPIKeys(ctx, st, cmd.OutOrStdout())
				})
			},
		},
		&cobra.Command{
			Use:   "revoke NAME",
			Short: "revoke the key named NAME: requests with it are refused from now on",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withStore(cmd.Context(), storePath(), false, func(ctx context.Context, st *sqlite.Store) error {
					err := st.RevokeAPIKey(ctx, args[0], time.Now())
					if errors.Is(err, enroll.ErrNotFound) {
						return &exitError{code: 1, msg: fmt.Sprintf("apikey revoke: no key named %q", args[0])}
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "revoked %s\n", args[0])
					return nil
				})
			},
		},
	)
	return cmd
}

// withStore opens the store at path for fn. create says whether a missing
// file may be created (only `apikey create` makes a new store).
func withStore(ctx context.Context, path string, create bool, fn func(context.Context, *sqlite.Store) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if !create {
		if _, err := os.Stat(path); err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("apikey: store %s: %v", path, err)}
		}
	}
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("apikey: store %s: %v", path, err)}
	}
	err = fn(ctx, st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

// createAPIKey stores a new key named name and prints it to stdout, once.
func createAPIKey(ctx context.Context, st enroll.Store, stdout, stderr io.Writer, name string, now time.Time) error {
	if !enroll.ActorAPIKey(name).Valid() {
		return &exitError{code: 2, msg: fmt.Sprintf("apikey create: name %q: want 1 to 64 characters from A-Z a-z 0-9 . _ -", name)}
	}
	plain, rec, err := enroll.NewAPIKey(name)
	if err != nil {
		return err
	}
	err = st.CreateAPIKey(ctx, enroll.APIKey{Name: rec.Name, Hash: rec.SecretHash, CreatedAt: enroll.Now(now)})
	if errors.Is(err, enroll.ErrConflict) {
		return &exitError{code: 1, msg: fmt.Sprintf("apikey create: a key named %q exists (revoke it, or choose another name)", name)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, plain)
	fmt.Fprintf(stderr, "created API key %q: it is shown this once; give it to the system as \"Authorization: Bearer <key>\"\n", name)
	return nil
}

func listAPIKeys(ctx context.Context, st enroll.Store, stdout io.Writer) error {
	keys, err := st.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if !k.RevokedAt.IsZero() {
			revoked = k.RevokedAt.Local().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.CreatedAt.Local().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}
