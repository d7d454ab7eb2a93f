package hubratelimit

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/hubchantier/hubgate/modules/hub"
)

// Names, in RateLimit-Policy and in metrics, of the policies that are not
// rules: the default per-principal policy, the per_user quota across all
// of a user's keys and tokens, and the per_client aggregate of all users
// of an OAuth2 client. Rules may not take them.
const (
	DefaultPolicyName   = "per-key"
	PerUserPolicyName   = "per-user"
	PerClientPolicyName = "per-client"
)

// Partitions a rule may count by.
const (
	// PerPrincipal counts by hub.PrincipalOf: the API key, the (OAuth2
	// client, user) pair, the user, or the client network when anonymous.
	PerPrincipal = "principal"
	// PerIP counts by client network (hub.ClientNetwork), signed in or not.
	PerIP = "ip"
	// PerUser counts by user, across all of the user's keys and tokens;
	// anonymous requests are not counted.
	PerUser = "user"
	// PerClient counts by OAuth2 client, across all of its users; requests
	// without an OAuth2 token are not counted.
	PerClient = "client"
)

// Rate is a parsed "N/unit" (hub.Rate, shared with hub_auth's failed_auth).
type Rate = hub.Rate

// ParseRate parses "N/unit" (see hub.ParseRate).
func ParseRate(s string) (Rate, error) { return hub.ParseRate(s) }

// ruleName keeps names usable as structured-field strings, metric labels
// and store keys.
var ruleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Rule limits the requests that match one of its endpoints (method and
// path pattern). All the endpoints of a rule share its buckets: one rule
// naming every endpoint that checks a password gives an attacker one
// budget of guesses, not one per endpoint.
type Rule struct {
	// Name identifies the rule in RateLimit-Policy, in store keys and in
	// the api_rate_limit_exceeded_total{rule} metric: lowercase letters,
	// digits, '.', '_' and '-', at most 64 characters, unique.
	Name string `json:"name,omitempty"`
	// Methods the rule's first endpoint applies to, as in hub.Route: any
	// case (kept in upper case), empty or "*" for every method; GET also
	// matches HEAD.
	Methods []string `json:"methods,omitempty"`
	// Path is the pattern of the rule's first endpoint (internal/pathpattern):
	// /api/v1/widgets, /api/v1/widgets/{id}, /oauth/*. It may be empty
	// when Endpoints lists them all.
	Path string `json:"path,omitempty"`
	// Endpoints are more endpoints counted in the same buckets as
	// Methods/Path (or all of them when Path is empty).
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Rates are "N/unit" limits, all enforced at once; the first is the
	// main quota, the others bursts (e.g. ["100/day", "10/minute"]).
	Rates []string `json:"rates,omitempty"`
	// Per is what the rule counts by: "principal" (default: the API key,
	// the OAuth2 client and user, the user; the client network when
	// anonymous), "ip" (the client network), "user" (all of a user's keys
	// and tokens; anonymous requests are not counted) or "client" (all
	// users of an OAuth2 client; requests without an OAuth2 token are not
	// counted).
	Per string `json:"per,omitempty"`

	endpoints []hub.Route
	policy    policy
}

// Endpoint is one method set and path pattern of a rule: a hub.Route.
type Endpoint = hub.Route

// compile checks the rule and prepares matching.
func (r *Rule) compile() error {
	if !ruleName.MatchString(r.Name) {
		return fmt.Errorf("rule name %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", r.Name)
	}
	switch r.Name {
	case DefaultPolicyName, PerUserPolicyName, PerClientPolicyName:
		return fmt.Errorf("rule name %q is reserved", r.Name)
	}
	all := r.Endpoints
	if r.Path != "" || len(r.Methods) > 0 || len(all) == 0 {
		all = append([]Endpoint{{Methods: r.Methods, Path: r.Path}}, all...)
	}
	r.endpoints = r.endpoints[:0]
	for _, e := range all {
		if err := e.Compile(); err != nil {
			return err
		}
		r.endpoints = append(r.endpoints, e)
	}
	switch r.Per {
	case "", PerPrincipal, PerIP, PerUser, PerClient:
	default:
		return fmt.Errorf("per %q: want principal, ip, user or client", r.Per)
	}
	var err error
	r.policy, err = newPolicy(r.Name, r.Rates)
	return err
}

// matches reports whether the request is one of the rule's endpoints.
func (r *Rule) matches(method, path string) bool {
	for i := range r.endpoints {
		if r.endpoints[i].Match(method, path) {
			return true
		}
	}
	return false
}

// policy is a named set of windows (main quota and bursts).
type policy struct {
	name    string
	windows []window
}

// window is one quota of a policy, with its name in the headers.
type window struct {
	name   string // policy name, or name-burst, name-burst2…
	rule   string // the rule (metric label)
	rate   Rate
	suffix string // :<period seconds>, the tail of its store key
}

func newPolicy(name string, rates []string) (policy, error) {
	if len(rates) == 0 {
		return policy{}, fmt.Errorf("policy %s: at least one rate is required", name)
	}
	p := policy{name: name}
	seen := map[time.Duration]bool{}
	for i, s := range rates {
		r, err := ParseRate(s)
		if err != nil {
			return policy{}, err
		}
		// One state per period and policy: two rates over one period
		// would share it.
		if seen[r.Period] {
			return policy{}, fmt.Errorf("policy %s: two rates per %s", name, r.Period)
		}
		seen[r.Period] = true
		p.windows = append(p.windows, newWindow(name, i, r))
	}
	return p, nil
}

func newWindow(policyName string, i int, r Rate) window {
	name := policyName
	switch {
	case i == 1:
		name += "-burst"
	case i > 1:
		name += "-burst" + strconv.Itoa(i)
	}
	return window{name: name, rule: policyName, rate: r, suffix: ":" + strconv.FormatInt(int64(r.Period/time.Second), 10)}
}

// storeKey is the store key of a window for a partition. The partition is
// the hash tag, so all windows of one partition live in one Redis Cluster
// slot and are decided by one script.
func storeKey(partition string, w window) string {
	return "rl:{" + partition + "}:" + w.name + w.suffix
}
