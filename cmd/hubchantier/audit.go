package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/audit"
)

// errChainBroken makes `audit verify` exit with status 1.
var errChainBroken = errors.New("audit chain broken")

// auditCmd runs `hubchantier audit verify|retention|body-hash`.
func (c *cli) auditCmd(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "verify":
		return c.auditVerify(ctx, args)
	case "retention":
		return c.auditRetention(ctx, args)
	case "body-hash":
		return c.auditBodyHash(args)
	}
	return usagef("unknown command %q: audit verify|retention|body-hash", "audit "+sub)
}

// auditVerify checks every gateway's hash chain in the store, and that
// each reaches its signed checkpoint, and reports the first break (exit
// status 1). Checkpoint signatures are checked with HUB_GATEWAY_SECRET
// when it is set.
func (c *cli) auditVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	unanchored := fs.Bool("allow-unanchored", false, "accept chains without a checkpoint (records from gateways older than checkpoints)")
	expect := map[string]int64{}
	fs.Func("expect", "`GATEWAY_ID:SEQ` the chain must reach, known outside the database (hub_audit_chain_head_seq, the gateway's log); repeatable", func(v string) error {
		gw, seq, ok := strings.Cut(v, ":")
		n, err := strconv.ParseInt(seq, 10, 64)
		if !ok || gw == "" || err != nil || n < 1 {
			return fmt.Errorf("want GATEWAY_ID:SEQ, got %q", v)
		}
		expect[gw] = n
		return nil
	})
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	d, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := audit.New(d, nil).WithGatewaySecret([]byte(c.getenv("HUB_GATEWAY_SECRET")), []byte(c.getenv("HUB_GATEWAY_SECRET_ACCEPT"))).
		Verify(ctx, audit.VerifyOptions{AllowUnanchored: *unanchored, Expect: expect})
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
		for _, gw := range res.Unanchored {
			fmt.Fprintf(c.stdout, "chain %s has no checkpoint: its newest records cannot be checked\n", gw)
		}
		if !res.SignaturesChecked {
			fmt.Fprintln(c.stdout, "checkpoint signatures not checked: HUB_GATEWAY_SECRET is not set")
		}
		if res.Break != nil {
			fmt.Fprintf(c.stdout, "BROKEN: %s\n", res.Break)
		} else {
			fmt.Fprintln(c.stdout, "ok: every chain holds")
		}
	}
	if res.Break != nil {
		return fmt.Errorf("%w: %s", errChainBroken, res.Break)
	}
	return nil
}

// auditBodyHash prints the request_body_hash hub_audit records for the
// body read from stdin (or --file), keyed with HUB_GATEWAY_SECRET: how a
// holder of the secret checks that a given body is the one recorded.
func (c *cli) auditBodyHash(args []string) error {
	fs := flag.NewFlagSet("audit body-hash", flag.ContinueOnError)
	file := fs.String("file", "", "read the body from this file instead of stdin")
	if _, err := c.parse(fs, args); err != nil {
		return err
	}
	secret := c.getenv("HUB_GATEWAY_SECRET")
	if secret == "" {
		return usagef("audit body-hash needs HUB_GATEWAY_SECRET (the gateway's shared secret)")
	}
	var in io.Reader = c.stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	body, err := io.ReadAll(io.LimitReader(in, 1<<30))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, auditchain.BodyHash([]byte(secret), body))
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
