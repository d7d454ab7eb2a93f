package jsonx

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/hubchantier/hubgate/internal/problem"
)

// Plan is the field selection of one request, shared between hub_fields
// (which parses and, on v1, validates it at request time) and hub_version
// (which, on v2, validates it in v2 names and applies it in its own
// renaming pass so the body is scanned once).
type Plan struct {
	// Raw is the ?fields= value as the client sent it.
	Raw string
	// Entity is the resource the whitelist belongs to ("chantiers").
	Entity string
	// Envelope is true on collections: the selection applies to the
	// elements of "data" and the pagination is kept.
	Envelope bool
	// Allowed is the entity's whitelist, in v1 names. Nil: the entity has
	// no whitelist, so no selection applies to it (ErrNotSelectable).
	Allowed *Node
	// MaxFields and MaxLevels bound the parse.
	MaxFields, MaxLevels int
	// Selected is the validated selection in v1 names, set by whoever
	// validated the request.
	Selected *Node
	// Claimed is set by hub_version when it applies Selected itself;
	// hub_fields then leaves the body alone.
	Claimed bool
}

// Compile parses Raw with names mapped to v1 by toV1 (nil: names are v1
// already) and validates it against the whitelist, setting Selected.
func (p *Plan) Compile(toV1 func(string) string) error {
	if p.Allowed == nil {
		return ErrNotSelectable
	}
	req, err := ParseFields(p.Raw, p.MaxFields, p.MaxLevels)
	if err != nil {
		return err
	}
	if toV1 != nil {
		req = req.Rename(toV1)
	}
	sel, err := Resolve(req, p.Allowed)
	if err != nil {
		return err
	}
	p.Selected = sel
	return nil
}

// ErrNotSelectable refuses ?fields= on a resource without a whitelist
// (a report, a computed answer): problem type fields-not-supported.
var ErrNotSelectable = errors.New("this resource does not support field selection")

// WriteFieldsProblem answers a refused selection with a 400 problem that
// lists the allowed names (RFC 9457 extension members "allowed_fields" and
// "invalid_fields"); names maps v1 names for display (nil: v1). It
// returns nil so handlers can `return WriteFieldsProblem(...)`.
func WriteFieldsProblem(w http.ResponseWriter, r *http.Request, p *Plan, err error, names func(string) string) error {
	if names == nil {
		names = func(s string) string { return s }
	}
	allowed := p.Allowed.Names()
	for i, a := range allowed {
		allowed[i] = Path(a, names)
	}
	sort.Strings(allowed)
	var prob *problem.Problem
	var unknown *UnknownError
	if errors.As(err, &unknown) {
		bad := make([]string, len(unknown.Names))
		for i, b := range unknown.Names {
			bad[i] = Path(b, names)
		}
		prob = problem.New(http.StatusBadRequest, "invalid-fields", "Invalid field selection",
			"unknown or forbidden fields: "+strings.Join(bad, ", ")+"; allowed: "+strings.Join(allowed, ", ")).
			With("invalid_fields", bad)
	} else if errors.Is(err, ErrNotSelectable) {
		prob = problem.New(http.StatusBadRequest, "fields-not-supported", "Field selection not supported",
			"this resource does not support ?fields=; ask without it")
	} else {
		prob = problem.New(http.StatusBadRequest, "invalid-fields", "Invalid field selection", err.Error()+"; allowed: "+strings.Join(allowed, ", "))
	}
	// The extension member names follow the version's naming too.
	if names("allowed_fields") != "allowed_fields" {
		prob.Extra = renameExtra(prob.Extra, names)
		prob.With(names("allowed_fields"), allowed)
	} else {
		prob.With("allowed_fields", allowed)
	}
	problem.Write(w, r, prob)
	return nil
}

func renameExtra(m map[string]any, names func(string) string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[names(k)] = v
	}
	return out
}

// StripQueryParam removes every name=… pair from a raw query string and
// keeps the other pairs byte for byte; it reports whether any was removed.
func StripQueryParam(raw, name string) (string, bool) {
	if raw == "" {
		return raw, false
	}
	var b strings.Builder
	removed := false
	for pair := range strings.SplitSeq(raw, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if strings.Contains(k, "%") || strings.Contains(k, "+") {
			k, _ = url.QueryUnescape(k) // fi%65lds is fields to the upstream too
		}
		if k == name {
			removed = true
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String(), removed
}
