package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// demoKeyName names the key that "apikey demo" replaces on every run.
const demoKeyName = "demo"

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fieldUsage turns a validation error into a usage error naming the flag.
func fieldUsage(cmd string, err error) error {
	var fe *auth.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	flags := map[string]string{"user_id": "user", "ip_whitelist": "ip", "expires_in_days": "expires-days", "rate_limit": "rate-limit"}
	name := fe.Field
	if f, ok := flags[name]; ok {
		name = f
	}
	return usagef("%s: --%s %s", cmd, name, fe.Msg)
}

func (c *cli) apikeyCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	user := fs.String("user", "", "owner: email or user id (required)")
	name := fs.String("name", "", "key name (required)")
	desc := fs.String("description", "", "free text")
	scopes := fs.String("scopes", "", "comma-separated scopes, e.g. read,chantiers:write (required)")
	ips := fs.String("ip", "", "comma-separated allowed IPs or CIDRs")
	days := fs.Int("expires-days", auth.DefaultExpiryDays, "lifetime in days, 1 to 365")
	rate := fs.String("rate-limit", "", "per-key limit N/unit, unit second|minute|hour|day")
	asJSON := fs.Bool("json", false, "print the key as one JSON object")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	switch {
	case *user == "":
		return usagef("apikey create: --user is required")
	case *name == "":
		return usagef("apikey create: --name is required")
	case len(splitList(*scopes)) == 0:
		return usagef("apikey create: --scopes is required")
	case *days < 1 || *days > auth.MaxExpiryDays:
		return usagef("apikey create: --expires-days must be between 1 and %d", auth.MaxExpiryDays)
	}
	s, closeDB, err := c.authService(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	k, err := s.CreateAPIKey(ctx, *user, auth.CreateKeyRequest{
		Name: *name, Description: *desc, Scopes: splitList(*scopes), ExpiresInDays: *days,
		IPWhitelist: splitList(*ips), RateLimit: *rate,
	})
	if err != nil {
		return fieldUsage("apikey create", err)
	}
	return c.printCreated(k, *asJSON, "created")
}

func (c *cli) printCreated(k auth.Created, asJSON bool, verb string) error {
	if asJSON {
		return c.printJSON(k)
	}
	fmt.Fprintf(c.stdout, "API key %s %s for user %d (%s), expires %s\n", k.ID, verb, k.UserID,
		strings.Join(k.Scopes, " "), k.ExpiresAt.Format(time.RFC3339))
	if k.GraceUntil != nil {
		fmt.Fprintf(c.stdout, "the previous secret stays valid until %s\n", k.GraceUntil.Format(time.RFC3339))
	}
	fmt.Fprintf(c.stdout, "\n  %s\n\nStore it now: it is shown only once.\n", k.Key)
	return nil
}

func (c *cli) apikeyList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey list", flag.ContinueOnError)
	user := fs.String("user", "", "only this user's keys (email or id)")
	asJSON := fs.Bool("json", false, `print {"data":[...]}`)
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	s, closeDB, err := c.authService(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	var uid int64
	if *user != "" {
		u, err := s.UserByEmailOrID(ctx, *user)
		if errors.Is(err, auth.ErrNotFound) {
			return usagef("apikey list: --user %q: no such user", *user)
		}
		if err != nil {
			return err
		}
		uid = u.ID
	}
	keys, err := s.ListAPIKeys(ctx, uid)
	if err != nil {
		return err
	}
	if *asJSON {
		return c.printJSON(map[string]any{"data": keys})
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tNAME\tSTATUS\tSCOPES\tEXPIRES\tLAST USED")
	for _, k := range keys {
		last := "never"
		if k.LastUsedAt != nil {
			last = k.LastUsedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.UserID, k.Name, k.Status,
			strings.Join(k.Scopes, ","), k.ExpiresAt.Format(time.RFC3339), last)
	}
	return tw.Flush()
}

func (c *cli) apikeyRevoke(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey revoke", flag.ContinueOnError)
	pos, err := c.parse(fs, args, "ID")
	if err != nil {
		return err
	}
	s, closeDB, err := c.authService(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := s.RevokeAPIKey(ctx, pos[0]); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return fmt.Errorf("no API key %q", pos[0])
		}
		return err
	}
	fmt.Fprintf(c.stdout, "API key %s revoked\n", pos[0])
	return nil
}

func (c *cli) apikeyRotate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey rotate", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the key as one JSON object")
	pos, err := c.parse(fs, args, "ID")
	if err != nil {
		return err
	}
	s, closeDB, err := c.authService(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	k, err := s.RotateAPIKey(ctx, pos[0])
	if errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("no API key %q", pos[0])
	}
	if err != nil {
		return err
	}
	return c.printCreated(k, *asJSON, "rotated")
}

// apikeyDemo revokes the user's previous "demo" keys, creates a new one with
// every scope the user's role allows, and prints only the key: it is what
// "make run" shows, and running it again never hits the 10-key limit.
func (c *cli) apikeyDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey demo", flag.ContinueOnError)
	user := fs.String("user", "", "owner: email or user id (required)")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return usagef("apikey demo: --user is required")
	}
	s, closeDB, err := c.authService(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	u, err := s.UserByEmailOrID(ctx, *user)
	if errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("apikey demo: no user %q (run hubchantier seed first)", *user)
	}
	if err != nil {
		return err
	}
	keys, err := s.ListAPIKeys(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Name == demoKeyName && k.RevokedAt == nil {
			if err := s.RevokeAPIKey(ctx, k.ID); err != nil {
				return err
			}
		}
	}
	k, err := s.CreateAPIKey(ctx, *user, auth.CreateKeyRequest{
		Name: demoKeyName, Description: "created by hubchantier apikey demo",
		Scopes: strings.Fields(auth.RoleScopes[u.Role]),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, k.Key)
	return nil
}
