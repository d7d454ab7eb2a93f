// Command hubchantier runs and administers the Hub Chantier upstream service.
//
//	hubchantier serve
//	hubchantier migrate
//	hubchantier seed [--password P]
//	hubchantier user create --email E --password P --role R [--nom N]
//	hubchantier apikey create --user E --name N --scopes a,b [--ip CIDR,...] [--expires-days D] [--rate-limit 100/hour] [--description T] [--json]
//	hubchantier apikey list [--user E] [--json]
//	hubchantier apikey revoke ID
//	hubchantier apikey rotate ID [--json]
//	hubchantier apikey demo --user E
//	hubchantier signing-key rotate
//	hubchantier oauth-client create --name N --redirect-uri U --scopes S [--public] [--json]
//	hubchantier oauth-client list [--json]
//	hubchantier oauth-client revoke CLIENT_ID
//	hubchantier audit verify [--json] [--allow-unanchored] [--expect GATEWAY_ID:SEQ]...
//	hubchantier audit body-hash [--file F]
//	hubchantier audit retention [--keep-days D] [--anonymize-days D]
//	hubchantier openapi
//
// Environment: HUB_DB (default data/hub.db; a postgres:// URL selects
// PostgreSQL), HUB_ADDR (default 127.0.0.1:9000), HUB_GATEWAY_SECRET
// (required by serve, at least 32 bytes), HUB_JWT_ISSUER, HUB_JWT_AUDIENCE,
// HUB_PUBLIC_URL (the gateway's external URL, for the OAuth2 metadata),
// HUB_GRAPHQL_INTROSPECTION (on|off, default on),
// HUB_LOGIN_MAX_FAILURES and HUB_LOGIN_FAILURE_WINDOW (per-account login
// throttle, default 5 per 15m), HUB_SEED_PASSWORD. Usage errors exit with status 2, failures with 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
)

// Defaults for the environment.
const (
	defaultDB   = "data/hub.db"
	defaultAddr = "127.0.0.1:9000"
)

const usage = `usage: hubchantier <command> [flags]

commands:
  serve                      run the HTTP service (HUB_ADDR, HUB_GATEWAY_SECRET)
  migrate                    apply database migrations
  seed [--password P]        create demo users and demo data (idempotent)
  user create --email E --password P --role admin|conducteur|ouvrier [--nom N]
  apikey create --user E --name N --scopes a,b [--ip CIDR,...] [--expires-days D]
                [--rate-limit 100/hour] [--description T] [--json]
  apikey list [--user E] [--json]
  apikey revoke ID
  apikey rotate ID [--json]
  apikey demo --user E       replace the user's "demo" key and print only the new key
  signing-key rotate         start signing JWTs with a new key
  oauth-client create --name N --redirect-uri U[,U2] --scopes a,b [--public] [--json]
  oauth-client list [--json]
  oauth-client revoke CLIENT_ID
  audit verify [--json] [--allow-unanchored] [--expect GATEWAY_ID:SEQ]...
                             check every gateway's audit hash chain and checkpoint (exit 1 on a break)
  audit body-hash [--file F] the request_body_hash of a body (stdin), keyed with HUB_GATEWAY_SECRET
  audit retention [--keep-days 365] [--anonymize-days 30]
                             delete old audit records, anonymize old client IPs
  webhook listen [--addr 127.0.0.1:8765] [--secret whsec_…] [--count N]
                             receive webhook deliveries locally and verify each (docs/webhooks.md)
  openapi                    print the v1 OpenAPI document (GET /api/openapi.json) (docs/sdk.md)
  connectors reencrypt       seal connector configs again under the first key of HUB_CONNECTOR_KEYS

environment: HUB_DB (default data/hub.db, or postgres://…), HUB_ADDR (default
127.0.0.1:9000), HUB_GATEWAY_SECRET, HUB_JWT_ISSUER, HUB_JWT_AUDIENCE,
HUB_PUBLIC_URL, HUB_GRAPHQL_INTROSPECTION (on|off, default on),
HUB_RATE_LIMIT and HUB_USER_RATE_LIMIT (the gateway's quotas, for the console's usage page),
HUB_CONSOLE_GOOGLE_CLIENT_ID, HUB_CONSOLE_GOOGLE_CLIENT_SECRET, HUB_CONSOLE_GOOGLE_URLS,
HUB_CONSOLE_GITHUB_CLIENT_ID, HUB_CONSOLE_GITHUB_CLIENT_SECRET, HUB_CONSOLE_GITHUB_URLS
(the console's external sign-in, docs/console.md),
HUB_LOGIN_MAX_FAILURES (default 5), HUB_LOGIN_FAILURE_WINDOW
(default 15m), HUB_SEED_PASSWORD; events and webhooks (docs/events.md,
docs/webhooks.md): HUB_EVENTS_POLL, HUB_EVENTS_BACKOFF_BASE, HUB_EVENTS_LEASE, HUB_EVENTS_RETENTION,
HUB_WEBHOOK_ALLOW_PRIVATE, HUB_WEBHOOK_TIMEOUT, HUB_WEBHOOK_DISABLE_AFTER,
HUB_WEBHOOK_SECRET_OVERLAP, HUB_WEBHOOK_BREAKER_OPEN
`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// cli carries the process's environment so tests can run commands in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// bcryptCost overrides the password hashing cost (tests lower it).
	bcryptCost int
}

func main() {
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(c.run(context.Background(), os.Args[1:]))
}

// run executes one command and returns the exit status.
func (c *cli) run(ctx context.Context, args []string) int {
	err := c.dispatch(ctx, args)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "hubchantier: %s\n\n%s", ue.msg, usage)
		return 2
	default:
		fmt.Fprintf(c.stderr, "hubchantier: %v\n", err)
		return 1
	}
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("a command is required")
	}
	cmd, rest := args[0], args[1:]
	sub := func() (string, []string, error) {
		if len(rest) == 0 {
			return "", nil, usagef("%s needs a subcommand", cmd)
		}
		return rest[0], rest[1:], nil
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, usage)
		return nil
	case "serve":
		return c.serve(ctx, rest)
	case "openapi":
		return c.openapiCmd(ctx, rest)
	case "migrate":
		return c.migrate(ctx, rest)
	case "seed":
		return c.seed(ctx, rest)
	case "user":
		s, r, err := sub()
		if err != nil {
			return err
		}
		if s != "create" {
			return usagef("unknown command %q: user create", "user "+s)
		}
		return c.userCreate(ctx, r)
	case "apikey":
		s, r, err := sub()
		if err != nil {
			return err
		}
		switch s {
		case "create":
			return c.apikeyCreate(ctx, r)
		case "list":
			return c.apikeyList(ctx, r)
		case "revoke":
			return c.apikeyRevoke(ctx, r)
		case "rotate":
			return c.apikeyRotate(ctx, r)
		case "demo":
			return c.apikeyDemo(ctx, r)
		}
		return usagef("unknown command %q: apikey create|list|revoke|rotate|demo", "apikey "+s)
	case "oauth-client":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return c.oauthClient(ctx, s, r)
	case "audit":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return c.auditCmd(ctx, s, r)
	case "webhook":
		s, r, err := sub()
		if err != nil {
			return err
		}
		if s != "listen" {
			return usagef("unknown command %q: webhook listen", "webhook "+s)
		}
		return c.webhookListen(ctx, r)
	case "connectors":
		if len(rest) == 0 || rest[0] != "reencrypt" {
			return usagef("unknown command: connectors reencrypt")
		}
		return c.connectorsCmd(ctx, rest)
	case "signing-key":
		s, r, err := sub()
		if err != nil {
			return err
		}
		if s != "rotate" {
			return usagef("unknown command %q: signing-key rotate", "signing-key "+s)
		}
		return c.signingKeyRotate(ctx, r)
	}
	return usagef("unknown command %q", cmd)
}

// parse parses flags and positional arguments in any order (so that
// "apikey rotate ID --json" works) and checks the positional count.
func (c *cli) parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(c.stdout)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != len(positional) {
		if len(positional) == 0 {
			return nil, usagef("%s: unexpected argument %q", fs.Name(), pos[0])
		}
		return nil, usagef("%s: expected %s", fs.Name(), strings.Join(positional, " "))
	}
	return pos, nil
}

// env returns the variable or def when unset.
func (c *cli) env(name, def string) string {
	if v := c.getenv(name); v != "" {
		return v
	}
	return def
}

// open opens HUB_DB and applies pending migrations.
func (c *cli) open(ctx context.Context) (*db.DB, error) {
	dsn := c.env("HUB_DB", defaultDB)
	d, err := db.Open(dsn)
	if err != nil {
		return nil, err
	}
	if err := c.dbPool(d.DB); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return d, nil
}

// authService opens the database and the identity service on it.
func (c *cli) authService(ctx context.Context) (*auth.Service, func(), error) {
	d, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := auth.New(ctx, d, auth.Options{
		Issuer: c.getenv("HUB_JWT_ISSUER"), Audience: c.getenv("HUB_JWT_AUDIENCE"),
		GatewaySecret: []byte(c.getenv("HUB_GATEWAY_SECRET")), BcryptCost: c.bcryptCost,
	})
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return s, func() { d.Close() }, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
