package webhooks

import (
	"context"
	"net"
	"net/url"
	"syscall"

	"github.com/hubchantier/hubgate/upstream/netguard"
)

// The SSRF guard lives in upstream/netguard, shared with the connectors.

// errPrivate is a target address refused by the SSRF guard.
var errPrivate = netguard.ErrPrivate

// publicAddr reports whether ip is a public unicast address.
var publicAddr = netguard.PublicAddr

// guard checks target addresses (HUB_WEBHOOK_ALLOW_PRIVATE=true turns it
// off for local tests).
type guard struct {
	allowPrivate bool
	resolver     *net.Resolver
}

func (g guard) ng() netguard.Guard {
	return netguard.Guard{AllowPrivate: g.allowPrivate, Resolver: g.resolver}
}

// checkURL validates a webhook URL (netguard.Guard.CheckURL): checked
// again on every dial (dialControl), against DNS rebinding.
func (g guard) checkURL(ctx context.Context, raw string) (*url.URL, error) {
	return g.ng().CheckURL(ctx, raw)
}

// dialControl refuses, at connect time, an address the guard does not
// allow.
func (g guard) dialControl(network, address string, c syscall.RawConn) error {
	return g.ng().DialControl(network, address, c)
}
