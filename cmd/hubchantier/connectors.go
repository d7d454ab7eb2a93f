package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/connectors/silae"
	"github.com/hubchantier/hubgate/upstream/connectors/slack"
	"github.com/hubchantier/hubgate/upstream/jobs"
)

// connectorsConfig reads the connector framework's and the scheduler's
// settings (docs/connectors.md): HUB_CONNECTOR_KEYS (id:base64key list,
// the first seals; unset: connectors disabled), HUB_CONNECTOR_TIMEOUT
// (one call to a vendor, default 30s), HUB_CONNECTOR_ALLOW_HTTP (true
// accepts plain http:// vendor URLs: local tests only),
// HUB_CONNECTOR_ALLOW_PRIVATE (true lets connectors reach loopback and
// private addresses: local stand-ins only), HUB_JOBS_POLL
// (how often the scheduler looks, default 30s) and HUB_JOBS_TIMEZONE (the
// zone of midnight and the 1st, default UTC).
func (c *cli) connectorsConfig() (*connectors.Keyring, connectors.Options, jobs.Options, error) {
	var co connectors.Options
	var jo jobs.Options
	var ring *connectors.Keyring
	if v := strings.TrimSpace(c.getenv("HUB_CONNECTOR_KEYS")); v != "" {
		r, err := connectors.ParseKeyring(v)
		if err != nil {
			return nil, co, jo, err
		}
		ring = r
	}
	for _, d := range []struct {
		name string
		min  time.Duration
		dst  *time.Duration
	}{
		{"HUB_CONNECTOR_TIMEOUT", 100 * time.Millisecond, &co.Timeout},
		{"HUB_JOBS_POLL", 10 * time.Millisecond, &jo.Poll},
	} {
		if v := c.getenv(d.name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < d.min {
				return nil, co, jo, fmt.Errorf("%s must be a duration of at least %s, got %q", d.name, d.min, v)
			}
			*d.dst = x
		}
	}
	switch v := c.getenv("HUB_CONNECTOR_ALLOW_HTTP"); v {
	case "", "false", "0":
	case "true", "1":
		co.AllowHTTP = true
	default:
		return nil, co, jo, fmt.Errorf("HUB_CONNECTOR_ALLOW_HTTP must be true or false, got %q", v)
	}
	switch v := c.getenv("HUB_CONNECTOR_ALLOW_PRIVATE"); v {
	case "", "false", "0":
	case "true", "1":
		co.AllowPrivate = true
	default:
		return nil, co, jo, fmt.Errorf("HUB_CONNECTOR_ALLOW_PRIVATE must be true or false, got %q", v)
	}
	// OAuth2 vendors (docs/connectors.md, "Connecting with OAuth2"): a
	// vendor is connectable once its client id is set.
	if id := c.getenv("HUB_DROPBOX_CLIENT_ID"); id != "" {
		co.OAuthClients = map[string]connectors.OAuthClient{"dropbox": {
			ClientID: id, ClientSecret: c.getenv("HUB_DROPBOX_CLIENT_SECRET"),
			AuthURL: c.getenv("HUB_DROPBOX_AUTH_URL"), TokenURL: c.getenv("HUB_DROPBOX_TOKEN_URL"), APIURL: c.getenv("HUB_DROPBOX_API_URL"),
		}}
	}
	co.DocumentsDir = c.getenv("HUB_DOCUMENTS_DIR")
	if v := c.getenv("HUB_JOBS_TIMEZONE"); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			return nil, co, jo, fmt.Errorf("HUB_JOBS_TIMEZONE must be an IANA time zone (e.g. Europe/Paris), got %q", v)
		}
		jo.Location = loc
	}
	return ring, co, jo, nil
}

// connectorsCmd runs `hubchantier connectors reencrypt`: every connector
// configuration sealed under an older key of HUB_CONNECTOR_KEYS is sealed
// again under the first one, so the older key can then be removed.
func (c *cli) connectorsCmd(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "reencrypt" {
		return errors.New("usage: hubchantier connectors reencrypt")
	}
	fs := flag.NewFlagSet("connectors reencrypt", flag.ContinueOnError)
	if _, err := c.parse(fs, args[1:]); err != nil {
		return err
	}
	ring, opts, _, err := c.connectorsConfig()
	if err != nil {
		return err
	}
	if ring == nil {
		return errors.New("HUB_CONNECTOR_KEYS is not set")
	}
	d, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := connectors.New(d, ring, connectors.NewRegistry(slack.Type, silae.Type), opts).Reencrypt(ctx)
	fmt.Fprintf(c.stdout, "re-encrypted %d connector configurations under key %s\n", n, ring.Current())
	return err
}
