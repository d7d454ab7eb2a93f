package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/oauth"
)

// listFlag collects a repeatable flag whose values may also be
// comma-separated (--redirect-uri a --redirect-uri b, or a,b).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// oauthServer opens the database with the identity and OAuth2 services.
func (c *cli) oauthServer(ctx context.Context) (*oauth.Server, func(), error) {
	d, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	a, err := auth.New(ctx, d, auth.Options{
		Issuer: c.getenv("HUB_JWT_ISSUER"), Audience: c.getenv("HUB_JWT_AUDIENCE"),
		GatewaySecret: []byte(c.getenv("HUB_GATEWAY_SECRET")), BcryptCost: c.bcryptCost,
	})
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return oauth.New(d, a, oauth.Options{}), func() { d.Close() }, nil
}

func (c *cli) oauthClient(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "create":
		return c.oauthClientCreate(ctx, args)
	case "list":
		return c.oauthClientList(ctx, args)
	case "revoke":
		return c.oauthClientRevoke(ctx, args)
	}
	return usagef("unknown command %q: oauth-client create|list|revoke", "oauth-client "+sub)
}

func (c *cli) oauthClientCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("oauth-client create", flag.ContinueOnError)
	name := fs.String("name", "", "name shown to users on the consent page (required)")
	var uris, scopes listFlag
	fs.Var(&uris, "redirect-uri", "registered redirect URI, repeatable or comma-separated (required)")
	fs.Var(&scopes, "scopes", "comma-separated scopes the client may request, e.g. chantiers:read (required)")
	public := fs.Bool("public", false, "public client (native or browser app): no secret, PKCE required")
	asJSON := fs.Bool("json", false, "print one JSON object with client_id (and client_secret)")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	switch {
	case *name == "":
		return usagef("oauth-client create: --name is required")
	case len(uris) == 0:
		return usagef("oauth-client create: --redirect-uri is required")
	case len(scopes) == 0:
		return usagef("oauth-client create: --scopes is required")
	}
	s, closeDB, err := c.oauthServer(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	cl, err := s.CreateClient(ctx, oauth.CreateClientRequest{Name: *name, RedirectURIs: uris, Scopes: scopes, Public: *public})
	if err != nil {
		var fe *auth.FieldError
		if errors.As(err, &fe) {
			flagName := map[string]string{"redirect_uris": "redirect-uri"}[fe.Field]
			if flagName == "" {
				flagName = fe.Field
			}
			return usagef("oauth-client create: --%s %s", flagName, fe.Msg)
		}
		return err
	}
	if *asJSON {
		return c.printJSON(cl)
	}
	kind := "confidential"
	if cl.Public {
		kind = "public (PKCE required)"
	}
	fmt.Fprintf(c.stdout, "OAuth2 client %q created, %s\n\n  client_id:     %s\n", cl.Name, kind, cl.ID)
	if cl.ClientSecret != "" {
		fmt.Fprintf(c.stdout, "  client_secret: %s\n\nStore the secret now: it is shown only once.\n", cl.ClientSecret)
	}
	return nil
}

func (c *cli) oauthClientList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("oauth-client list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, `print {"data":[...]}`)
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	s, closeDB, err := c.oauthServer(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	cs, err := s.ListClients(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return c.printJSON(map[string]any{"data": cs})
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tSTATUS\tSCOPES\tREDIRECT URIS\tCREATED")
	for _, cl := range cs {
		typ, status := "confidential", "active"
		if cl.Public {
			typ = "public"
		}
		if cl.RevokedAt != nil {
			status = "revoked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Name, typ, status,
			strings.Join(cl.Scopes, ","), strings.Join(cl.RedirectURIs, ","), cl.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func (c *cli) oauthClientRevoke(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("oauth-client revoke", flag.ContinueOnError)
	pos, err := c.parse(fs, args, "CLIENT_ID")
	if err != nil {
		return err
	}
	s, closeDB, err := c.oauthServer(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := s.RevokeClient(ctx, pos[0]); err != nil {
		if errors.Is(err, oauth.ErrNotFound) {
			return fmt.Errorf("no OAuth2 client %q", pos[0])
		}
		return err
	}
	fmt.Fprintf(c.stdout, "OAuth2 client %s revoked; its tokens are refused by every gateway within a second\n", pos[0])
	return nil
}
