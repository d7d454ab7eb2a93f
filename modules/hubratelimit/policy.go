package hubratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/pathpattern"
	"github.com/hubchantier/hubgate/modules/hub"
)

// DefaultPolicyName is the name, in RateLimit-Policy and in metrics, of the
// default per-principal policy.
const DefaultPolicyName = "per-key"

// Partitions a rule may count by.
const (
	PerPrincipal = "principal"
	PerIP        = "ip"
)

// units are the rate units, as the upstream accepts them for a key's own
// rate_limit (upstream/auth/scopes.go).
var units = map[string]time.Duration{
	"second": time.Second,
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
}

// Rate is a parsed "N/unit".
type Rate struct {
	Limit  int64
	Period time.Duration
}

// ParseRate parses "N/unit" with N a positive integer and unit second,
// minute, hour or day. N may not exceed the period in microseconds (the
// resolution of the limiter), i.e. a million per second.
func ParseRate(s string) (Rate, error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want N/unit, e.g. 100/hour", s)
	}
	period, ok := units[unit]
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: unknown unit %q (want second, minute, hour or day)", s, unit)
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v < 1 {
		return Rate{}, fmt.Errorf("rate %q: the limit must be a positive integer", s)
	}
	if v > period.Microseconds() {
		return Rate{}, fmt.Errorf("rate %q: at most %d per %s", s, period.Microseconds(), unit)
	}
	return Rate{Limit: v, Period: period}, nil
}

// String returns the rate as "N/unit".
func (r Rate) String() string {
	for u, d := range units {
		if d == r.Period {
			return strconv.FormatInt(r.Limit, 10) + "/" + u
		}
	}
	return strconv.FormatInt(r.Limit, 10) + "/" + r.Period.String()
}

// knownMethods are the methods a rule may name (RFC 9110 §9 and PATCH).
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true,
}

// ruleName keeps names usable as structured-field strings, metric labels
// and store keys.
var ruleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Rule limits the requests that match a method and a path pattern.
type Rule struct {
	// Name identifies the rule in RateLimit-Policy, in store keys and in
	// the api_rate_limit_exceeded_total{rule} metric: lowercase letters,
	// digits, '.', '_' and '-', at most 64 characters, unique.
	Name string `json:"name,omitempty"`
	// Methods the rule applies to; empty means every method. GET also
	// matches HEAD.
	Methods []string `json:"methods,omitempty"`
	// Path is a pattern (internal/pathpattern): /api/v1/chantiers,
	// /api/v1/chantiers/{id}, /oauth/*.
	Path string `json:"path,omitempty"`
	// Rates are "N/unit" limits, all enforced at once; the first is the
	// main quota, the others bursts (e.g. ["100/day", "10/minute"]).
	Rates []string `json:"rates,omitempty"`
	// Per is what the rule counts by: "principal" (default: the API key,
	// user or OAuth client; the client IP when anonymous) or "ip".
	Per string `json:"per,omitempty"`

	pattern pathpattern.Pattern
	methods map[string]bool
	policy  policy
}

// compile checks the rule and prepares matching.
func (r *Rule) compile() error {
	if !ruleName.MatchString(r.Name) {
		return fmt.Errorf("rule name %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", r.Name)
	}
	if r.Name == DefaultPolicyName {
		return fmt.Errorf("rule name %q is reserved for the default policy", r.Name)
	}
	p, err := pathpattern.Compile(r.Path)
	if err != nil {
		return err
	}
	r.pattern = p
	r.methods = nil
	for _, m := range r.Methods {
		if !knownMethods[m] {
			return fmt.Errorf("method %q is not a known HTTP method (use upper case: GET, POST…)", m)
		}
		if r.methods == nil {
			r.methods = make(map[string]bool)
		}
		r.methods[m] = true
		if m == "GET" {
			r.methods["HEAD"] = true
		}
	}
	switch r.Per {
	case "", PerPrincipal, PerIP:
	default:
		return fmt.Errorf("per %q: want principal or ip", r.Per)
	}
	r.policy, err = newPolicy(r.Name, r.Rates)
	return err
}

func (r *Rule) matches(method, path string) bool {
	return (r.methods == nil || r.methods[method]) && r.pattern.Match(path)
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

// principalPartition names who the request counts against: the API key,
// the OAuth client, the user; "" when anonymous.
func principalPartition(id *hub.Identity) string {
	if id == nil {
		return ""
	}
	switch {
	case id.KeyID != "":
		return "k:" + safe(id.KeyID)
	case id.ClientID != "":
		return "c:" + safe(id.ClientID)
	case id.Subject != "" && id.Method != "anonymous":
		return "u:" + safe(id.Subject)
	}
	return ""
}

// safe keeps braces, which delimit Redis Cluster hash tags, out of keys
// (ids come from the upstream, but a key is no place to trust them).
func safe(s string) string {
	if !strings.ContainsAny(s, "{}") && len(s) <= 128 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(sum[:16])
}

// storeKey is the store key of a window for a partition. The partition is
// the hash tag, so all windows of one partition live in one Redis Cluster
// slot and are decided by one script.
func storeKey(partition string, w window) string {
	return "rl:{" + partition + "}:" + w.name + w.suffix
}
