package auth

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Resources that resource scopes (<resource>:read|write|*) may name.
var Resources = []string{"chantiers", "pointages", "documents", "signalements", "affectations", "planning", "stats", "users"}

// Limits on API key fields.
const (
	MaxScopes      = 50
	MaxIPWhitelist = 50
	MaxNameLen     = 100
	MaxDescLen     = 500
)

// ValidScope reports whether s is a known scope: read, write, admin, or
// <resource>:read|write|* for one of Resources.
func ValidScope(s string) bool {
	switch s {
	case "read", "write", "admin":
		return true
	}
	res, act, ok := strings.Cut(s, ":")
	if !ok || (act != "read" && act != "write" && act != "*") {
		return false
	}
	for _, r := range Resources {
		if r == res {
			return true
		}
	}
	return false
}

// Grantable reports whether a key owned by a user of role may carry scope.
// A key never exceeds its owner's role: ouvrier keys read everything but
// write only pointages and signalements; only admins grant "admin" or
// write users (users are managed by administrators alone).
func Grantable(role, scope string) bool {
	if role == RoleAdmin {
		return true
	}
	res, act, isRes := strings.Cut(scope, ":")
	if scope == "admin" || (isRes && res == "users" && act != "read") {
		return false
	}
	have := strings.Fields(RoleScopes[role])
	covers := func(want string) bool {
		r, a, _ := strings.Cut(want, ":")
		for _, h := range have {
			if h == want || h == a || h == r+":*" {
				return true
			}
		}
		return false
	}
	switch {
	case !isRes:
		return covers(scope)
	case act == "*":
		return covers(res+":read") && covers(res+":write")
	default:
		return covers(scope)
	}
}

// normalizeScopes validates scopes against the owner's role and removes
// duplicates, keeping the order given.
func normalizeScopes(role string, scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, fieldErr("scopes", "at least one scope is required (for example \"read\")")
	}
	if len(scopes) > MaxScopes {
		return nil, fieldErr("scopes", "at most %d scopes", MaxScopes)
	}
	seen := make(map[string]bool, len(scopes))
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		sc = strings.TrimSpace(sc)
		if !ValidScope(sc) {
			return nil, fieldErr("scopes", "unknown scope %q: use read, write, admin or <resource>:read|write|* with resource one of %s", sc, strings.Join(Resources, ", "))
		}
		if !Grantable(role, sc) {
			return nil, &FieldError{Field: "scopes", Forbidden: true,
				Msg: fmt.Sprintf("scope %q exceeds the %s role of the key's owner", sc, role)}
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out, nil
}

// normalizeIPs validates an allowlist of IPs and CIDRs (v4 or v6) and returns
// their canonical forms (CIDRs masked to their network address).
func normalizeIPs(list []string) ([]string, error) {
	if len(list) > MaxIPWhitelist {
		return nil, fieldErr("ip_whitelist", "at most %d entries", MaxIPWhitelist)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		e = strings.TrimSpace(e)
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fieldErr("ip_whitelist", "%q is not a valid CIDR", e)
			}
			out = append(out, p.Masked().String())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, fieldErr("ip_whitelist", "%q is not a valid IP address or CIDR", e)
		}
		out = append(out, a.String())
	}
	return out, nil
}

// rateUnits are the units a rate limit may use.
var rateUnits = map[string]bool{"second": true, "minute": true, "hour": true, "day": true}

// ValidRateLimit reports whether s reads N/unit with N a positive integer
// and unit second, minute, hour or day ("" means no per-key limit).
func ValidRateLimit(s string) bool {
	if s == "" {
		return true
	}
	n, unit, ok := strings.Cut(s, "/")
	v, err := strconv.ParseUint(n, 10, 32)
	return ok && err == nil && v > 0 && rateUnits[unit]
}
