package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/hubchantier/hubgate/upstream/audit"
)

// errChainBroken makes `audit verify` exit with status 1.
var errChainBroken = errors.New("audit chain broken")

// auditCmd runs `hubchantier audit verify|retention`.
func (c *cli) auditCmd(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "verify":
		return c.auditVerify(ctx, args)
	case "retention":
		return c.auditRetention(ctx, args)
	}
	return usagef("unknown command %q: audit verify|retention", "audit "+sub)
}

// auditVerify checks every gateway's hash chain in the store and reports
// the first break (exit status 1).
func (c *cli) auditVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	d, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := audit.New(d, nil).Verify(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
	} else {
		fmt.Fprintf(c.stdout, "%d records in %d chains checked\n", res.Records, res.Gateways)
		for gw, seq := range res.Starts {
			fmt.Fprintf(c.stdout, "chain %s starts at seq %d (older records removed by retention)\n", gw, seq)
		}
		if res.Break != nil {
			fmt.Fprintf(c.stdout, "BROKEN: gateway %s, seq %d, event %s: %s\n", res.Break.GatewayID, res.Break.Seq, res.Break.EventID, res.Break.Reason)
		} else {
			fmt.Fprintln(c.stdout, "ok: every chain holds")
		}
	}
	if res.Break != nil {
		return errChainBroken
	}
	return nil
}

// auditRetention runs the retention job once.
func (c *cli) auditRetention(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit retention", flag.ContinueOnError)
	keepDays := fs.Int("keep-days", 365, "delete records older than this many days")
	anonDays := fs.Int("anonymize-days", 30, "anonymize client IPs of records older than this many days")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	if *keepDays < 1 || *anonDays < 0 || *anonDays > *keepDays {
		return usagef("audit retention: need 1 <= keep-days and 0 <= anonymize-days <= keep-days")
	}
	d, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	day := 24 * time.Hour
	res, err := audit.New(d, nil).Retention(ctx, time.Now(), time.Duration(*keepDays)*day, time.Duration(*anonDays)*day)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted %d records, anonymized %d IP addresses\n", res.Deleted, res.Anonymized)
	return nil
}
