package hub

import (
	"fmt"
	"sync/atomic"
)

// runningIssuer is the JWT issuer of the hub app this process last
// started: the config a reload would replace. Nil before the first start
// (and in `hubgate validate`, which starts nothing).
var runningIssuer atomic.Pointer[string]

// checkIssuerChange refuses a config whose issuer differs from the running
// one's, unless allowed: every JWT and OAuth access token issued so far
// carries the old iss and would get 401 at once. A reload from a shell
// without the running process's environment did exactly that
// ({$HUB_JWT_ISSUER} fell back to its default).
func checkIssuerChange(issuer string, allow bool) error {
	old := runningIssuer.Load()
	if old == nil || *old == issuer || allow {
		return nil
	}
	return fmt.Errorf("hub: issuer %q would replace the running %q: every token issued as %q would get 401; "+
		"reload with the running environment (make reload reads data/hubgate.env), or set allow_issuer_change "+
		"in the hub app to change it on purpose", issuer, *old, *old)
}
