// Package authz is the upstream's authorization model, in one place: the
// role → permission matrix (admin, conducteur, ouvrier) per resource and
// action, and the check every handler runs before it touches data.
//
// A request acts with the intersection of two grants, evaluated on every
// request: the scopes of its credential (API key, OAuth2 token or login
// token, as the gateway's assertion carries them) and the permissions of
// its user's CURRENT role. The role is never taken from a token or from the
// gateway's assertion: the upstream's principal middleware
// (auth.Service.Principals) loads it from the users table per request and
// overwrites the assertion's role before any handler runs.
//
// docs/auth.md ("Roles and permissions") shows the same matrix as a table;
// TestMatrixDoc keeps the two in step.
package authz

import (
	"net/http"
	"strconv"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/problem"
)

// Roles, as stored in users.role.
const (
	Admin      = "admin"
	Conducteur = "conducteur"
	Ouvrier    = "ouvrier"
)

// Action is what a request does to a resource.
type Action string

// Actions. Validate is the right to set or change pointages.valide, or to
// change a pointage that is already validated.
const (
	Read     Action = "read"
	Create   Action = "create"
	Update   Action = "update"
	Delete   Action = "delete"
	Validate Action = "validate"
)

// Reach is how far a permission extends over the rows of a resource.
type Reach int

// Reaches, from nothing to everything.
const (
	// None: the action is refused (403).
	None Reach = iota
	// Own: only rows of the caller (user_id = caller; for users, the
	// caller's own row).
	Own
	// Assigned: only rows of chantiers the caller is assigned to through
	// an affectation (for chantiers, the chantier itself).
	Assigned
	// All: every row.
	All
)

// String names a reach as the docs do.
func (r Reach) String() string {
	switch r {
	case Own:
		return "own"
	case Assigned:
		return "assigned"
	case All:
		return "all"
	}
	return "-"
}

// Resources of the matrix. The first eight are also scope resources
// (<resource>:read|write|*); the admin-only ones need the admin scope.
const (
	Chantiers    = "chantiers"
	Pointages    = "pointages"
	Documents    = "documents"
	Signalements = "signalements"
	Affectations = "affectations"
	Planning     = "planning"
	Stats        = "stats"
	Users        = "users"
	// AdminAPI covers /api/v1/admin/* (other users' keys, OAuth2 clients),
	// the audit trail and the anomalies: administrators only.
	AdminAPI = "admin"
	// Webhooks are outbound webhook endpoints (docs/webhooks.md): their
	// owner's (conducteur) or everybody's (admin); a scope resource too.
	Webhooks = "webhooks"
)

// grants holds, per role, the reach of each action on each resource. An
// absent entry is None.
type grants map[string]map[Action]Reach

var (
	all  = map[Action]Reach{Read: All, Create: All, Update: All, Delete: All}
	read = map[Action]Reach{Read: All}
	own  = map[Action]Reach{Read: Own, Create: Own, Update: Own, Delete: Own}
)

// Matrix is the role → permission matrix. Read it with Allowed; it is
// exported for the docs test only and must not be modified.
var Matrix = map[string]grants{
	Admin: {
		Chantiers: all, Pointages: withValidate(all), Documents: all, Signalements: all,
		Affectations: all, Planning: read, Stats: read, Users: all, AdminAPI: all,
		Webhooks: all,
	},
	Conducteur: {
		Chantiers: all, Pointages: withValidate(all), Documents: all, Signalements: all,
		Affectations: all, Planning: read, Stats: read, Users: read,
		Webhooks: own,
	},
	Ouvrier: {
		Chantiers:    {Read: Assigned},
		Pointages:    {Read: Own, Create: Own, Update: Own},
		Documents:    {Read: Assigned},
		Signalements: {Read: Assigned, Create: Assigned},
		Affectations: {Read: Own},
		Planning:     {Read: Own},
		Users:        {Read: Own},
	},
}

func withValidate(m map[Action]Reach) map[Action]Reach {
	out := map[Action]Reach{Validate: All}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Allowed returns the reach of role's permission to do act on resource
// (None for an unknown role, resource or action).
func Allowed(role, resource string, act Action) Reach {
	return Matrix[role][resource][act]
}

// ScopeGrants reports whether credential scopes allow act on resource:
// reads need read, <resource>:read or <resource>:*; writes need write,
// <resource>:write or <resource>:*; AdminAPI needs admin. This repeats the
// gateway's scope check (hub_auth) so that the intersection of scopes and
// role is computed in one place, whatever route the gateway was given.
func ScopeGrants(scopes []string, resource string, act Action) bool {
	want, wantRes := "write", resource+":write"
	switch {
	case resource == AdminAPI:
		want, wantRes = "admin", "admin"
	case act == Read:
		want, wantRes = "read", resource+":read"
	}
	for _, s := range scopes {
		if s == want || s == wantRes || (resource != AdminAPI && s == resource+":*") {
			return true
		}
	}
	return false
}

// Problem types of authorization failures (stable: clients match on them).
const (
	// TypeForbidden: the role or the credential's scopes do not allow the
	// action (403).
	TypeForbidden = "permission-denied"
	// TypeUnauthenticated: no user (401).
	TypeUnauthenticated = "unauthenticated"
)

// Decision is the outcome of Check for an allowed request.
type Decision struct {
	// UserID is the caller's user id.
	UserID int64
	// Role is the caller's current role.
	Role string
	// Reach is how far the permission extends (never None).
	Reach Reach
}

// Check decides whether the caller c (claims whose Role is the current
// role, see the package comment) may do act on resource. It returns the
// decision, or the problem to answer: 401 for an anonymous caller, 403
// (TypeForbidden) when the role or the scopes refuse.
func Check(c *assertion.Claims, resource string, act Action) (Decision, *problem.Problem) {
	if c == nil || c.Anonymous() {
		return Decision{}, problem.New(http.StatusUnauthorized, TypeUnauthenticated, "Unauthorized", "this endpoint needs an authenticated caller")
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id < 1 {
		return Decision{}, problem.New(http.StatusUnauthorized, TypeUnauthenticated, "Unauthorized", "the caller names no user")
	}
	reach := Allowed(c.Role, resource, act)
	if reach == None {
		return Decision{}, Forbidden(resource, act, "the "+roleName(c.Role)+" role does not allow it")
	}
	if !ScopeGrants(c.Scopes, resource, act) {
		return Decision{}, Forbidden(resource, act, "the credential's scopes do not allow it")
	}
	return Decision{UserID: id, Role: c.Role, Reach: reach}, nil
}

// Forbidden is the 403 problem for act on resource, with why.
func Forbidden(resource string, act Action, why string) *problem.Problem {
	return problem.New(http.StatusForbidden, TypeForbidden, "Forbidden",
		"cannot "+string(act)+" "+resource+": "+why).
		With("resource", resource).With("action", string(act))
}

func roleName(r string) string {
	if r == "" {
		return "(none)"
	}
	return r
}

// Require runs Check and writes the problem when it refuses; ok reports
// whether the handler may go on.
func Require(w http.ResponseWriter, r *http.Request, c *assertion.Claims, resource string, act Action) (Decision, bool) {
	d, p := Check(c, resource, act)
	if p != nil {
		if p.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hubchantier"`)
		}
		problem.Write(w, r, p)
		return Decision{}, false
	}
	return d, true
}
