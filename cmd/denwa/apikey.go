package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/enroll/httpapi"
)

// storePathEnv names the store for `denwa apikey` as for `denwa serve`.
var storePathEnv = config.EnvName("store.path")

// defaultAPIKeyScopes is what `apikey create` gives without --scope: what
// a system that starts verifications needs, and nothing that mints or
// reads app passwords.
const defaultAPIKeyScopes = enroll.ScopeEnroll

func newAPIKeyCmd() *cobra.Command {
	var path, scope string
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "create, list and revoke the API keys systems use to call denwa serve",
		Long: `apikey manages the API keys in the store that denwa serve uses. A system sends
its key as "Authorization: Bearer dnw_…". Only a hash of each key is stored:
create prints the key once, and it cannot be shown again (create a new one and
revoke the old one instead). The store may be in use by a running denwa serve.

Each key has scopes, and each API route needs one (403 insufficient_scope
without it):
  enroll  create enrollments, read them and their audit trail, start and
          follow their calls
  check   check app passwords (POST /v1/app-passwords/check): a mail gateway
          or RADIUS bridge
  admin   issue, list and revoke app passwords, and operator routes
Keys made before scopes existed have all three.

The store is --store, else ` + storePathEnv + `, else ./denwa.db: a SQLite file, or
the postgres:// URL of the database several nodes share (the password from
PGPASSWORD or PGPASSFILE).`,
		Example: `  denwa apikey create crm --store /var/lib/denwa/denwa.db
  denwa apikey create mail-gateway --scope check
  PGPASSWORD=… denwa apikey create crm --store 'postgres://denwa@db.example.com/denwa?sslmode=verify-full'
  denwa apikey create portal --scope enroll,admin
  denwa apikey list
  denwa apikey revoke crm`,
	}
	cmd.PersistentFlags().StringVar(&path, "store", "", "SQLite database file, or postgres:// URL (default: "+storePathEnv+", else ./denwa.db)")
	storePath := func() string {
		if path != "" {
			return path
		}
		if v, ok := lookupEnv(storePathEnv); ok && v != "" {
			return v
		}
		return config.DefaultStorePath
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "create a key named NAME (who uses it: crm, mail-gateway) and print it once",
		Long: `create makes a new API key for the system called NAME and prints it, once, on
standard output (nothing else goes there, so it can be captured). NAME is what
the audit trail shows for the key's changes: 1 to 64 characters from
A-Z a-z 0-9 . _ -, unique among the keys. --scope says what the key may do
(enroll, check, admin, comma-separated; default enroll).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			scopes, err := enroll.ParseScopes(scope)
			if err != nil {
				return &exitError{code: 2, msg: fmt.Sprintf("apikey create: --scope %q: want enroll, check or admin, comma-separated", scope)}
			}
			return withStore(cmd.Context(), "apikey", storePath(), true, func(ctx context.Context, st enroll.Store) error {
				return createAPIKey(ctx, st, cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], scopes, time.Now())
			})
		},
	}
	create.Flags().StringVar(&scope, "scope", defaultAPIKeyScopes.String(), "what the key may do: enroll, check, admin (comma-separated)")
	cmd.AddCommand(
		create,
		&cobra.Command{
			Use:   "list",
			Short: "list the keys: name, scopes, created, revoked (never the keys)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return withStore(cmd.Context(), "apikey", storePath(), false, func(ctx context.Context, st enroll.Store) error {
					return listAPIKeys(ctx, st, cmd.OutOrStdout())
				})
			},
		},
		&cobra.Command{
			Use:   "revoke NAME",
			Short: "revoke the key named NAME: requests with it are refused from now on",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withStore(cmd.Context(), "apikey", storePath(), false, func(ctx context.Context, st enroll.Store) error {
					a, err := localAdmin(st)
					if err != nil {
						return err
					}
					if err := a.RevokeAPIKey(ctx, args[0], "", localOrigin); err != nil {
						return keyError("apikey revoke", args[0], err)
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "revoked %s\n", args[0])
					return nil
				})
			},
		},
	)
	return cmd
}

// createAPIKey stores a new key named name with scopes and prints it to
// stdout, once; it is recorded as an operator event of the local actor.
func createAPIKey(ctx context.Context, st enroll.Store, stdout, stderr io.Writer, name string, scopes enroll.Scopes, now time.Time) error {
	a, err := enroll.NewAdmin(enroll.AdminConfig{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	plain, k, err := a.CreateAPIKey(ctx, name, scopes, localOrigin)
	if err != nil {
		return keyError("apikey create", name, err)
	}
	printCreatedKey(stdout, stderr, httpapi.AdminView{}.CreatedAPIKey(plain, k))
	return nil
}

// keyError turns an error of creating or revoking the key name into the
// command's message and exit code.
func keyError(what, name string, err error) error {
	switch {
	case errors.Is(err, enroll.ErrConflict):
		return &exitError{code: 1, msg: fmt.Sprintf("%s: a key named %q exists (revoke it, or choose another name)", what, name)}
	case errors.Is(err, enroll.ErrNotFound):
		return &exitError{code: 1, msg: fmt.Sprintf("%s: no key named %q", what, name)}
	case errors.Is(err, enroll.ErrInvalidInput):
		return &exitError{code: 2, msg: fmt.Sprintf("%s: name %q: want 1 to 64 characters from A-Z a-z 0-9 . _ -", what, name)}
	}
	return err
}

// printCreatedKey prints a new key on stdout (nothing else goes there,
// so that it can be captured) and what it is on stderr.
func printCreatedKey(stdout, stderr io.Writer, k httpapi.CreatedAPIKey) {
	fmt.Fprintln(stdout, k.Key)
	fmt.Fprintf(stderr, "created API key %q with scopes %s: it is shown this once; give it to the system as \"Authorization: Bearer <key>\"\n",
		k.APIKey.Name, strings.Join(k.APIKey.Scopes, ","))
}

func listAPIKeys(ctx context.Context, st enroll.Store, stdout io.Writer) error {
	keys, err := st.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	return writeKeyTable(stdout, httpapi.AdminView{}.APIKeys(keys).APIKeys)
}
