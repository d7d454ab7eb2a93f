package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/hubchantier/hubgate/integration/harness"
)

// auditBlock matches the hub_audit directive (and its block) of the default
// Caddyfile.
var auditBlock = regexp.MustCompile(`(?m)^\thub_audit(?: \{\n(?:\t\t.*\n)*\t\})?\n`)

// withoutAudit returns the repository's default Caddyfile minus hub_audit:
// the same full chain, so the two rows differ by the audit trail alone
// (a record per request, fsync'd before the response, shipped in batches).
func withoutAudit() (string, error) {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Caddyfile"))
	if err != nil {
		return "", err
	}
	if !auditBlock.Match(b) {
		return "", fmt.Errorf("no hub_audit block in the default Caddyfile")
	}
	return auditBlock.ReplaceAllString(string(b), ""), nil
}

func init() {
	register(Row{Name: "default Caddyfile, full chain with hub_audit", Group: "audit", Order: 90,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway("", "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
	register(Row{Name: "default Caddyfile, full chain without hub_audit", Group: "audit", Order: 91,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			cf, err := withoutAudit()
			if err != nil {
				return "", nil, nil, err
			}
			g, err := e.Gateway(cf, "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
}
