package hubanomaly

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/modules/hub"
)

// Principal kinds, as reported in events.
const (
	kindAPIKey = "api_key"
	kindClient = "oauth_client"
	kindUser   = "user"
	kindIP     = "ip"
)

// principal is who a request is attributed to: the API key, else the
// OAuth2 client, else the user, else (anonymous) the client IP — the same
// precedence as hub_rate_limit, so both policies count the same caller.
type principal struct {
	kind, id string
	key      string // "k:<id>", "c:<id>", "u:<id>" or "ip:<addr>": state and store key
}

func principalOf(r *http.Request) principal {
	id, _ := caddyhttp.GetVar(r.Context(), hub.IdentityVar).(*hub.Identity)
	if id != nil {
		switch {
		case id.KeyID != "":
			return principal{kindAPIKey, id.KeyID, "k:" + safe(id.KeyID)}
		case id.ClientID != "":
			return principal{kindClient, id.ClientID, "c:" + safe(id.ClientID)}
		case id.Subject != "" && id.Method != "anonymous":
			return principal{kindUser, id.Subject, "u:" + safe(id.Subject)}
		}
	}
	ip := hub.ClientIP(r)
	return principal{kindIP, ip, "ip:" + safe(ip)}
}

// safe keeps braces (Redis Cluster hash tags) and overlong values out of
// store keys.
func safe(s string) string {
	if !strings.ContainsAny(s, "{}") && len(s) <= 128 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(sum[:16])
}
