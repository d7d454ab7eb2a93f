package authz

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/internal/assertion"
)

// TestMatrixDoc keeps the table of docs/auth.md equal to Matrix.
func TestMatrixDoc(t *testing.T) {
	raw, err := os.ReadFile("../../docs/auth.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	begin, end := strings.Index(doc, "<!-- matrix:begin -->"), strings.Index(doc, "<!-- matrix:end -->")
	if begin < 0 || end < begin {
		t.Fatal("docs/auth.md has no matrix markers")
	}
	var want strings.Builder
	want.WriteString("| resource | action | admin | conducteur | ouvrier |\n|---|---|---|---|---|\n")
	for _, res := range []string{Chantiers, Pointages, Documents, Signalements, Affectations, Planning, Stats, Users, AdminAPI, Webhooks} {
		for _, act := range []Action{Read, Create, Update, Delete, Validate} {
			row := []string{res, string(act)}
			any := false
			for _, role := range []string{Admin, Conducteur, Ouvrier} {
				r := Allowed(role, res, act)
				any = any || r != None
				row = append(row, r.String())
			}
			if any {
				want.WriteString("| " + strings.Join(row, " | ") + " |\n")
			}
		}
	}
	got := strings.TrimSpace(doc[begin+len("<!-- matrix:begin -->") : end])
	if got != strings.TrimSpace(want.String()) {
		t.Errorf("docs/auth.md matrix differs from authz.Matrix; want:\n%s", want.String())
	}
}

// TestMatrixRules pins the rules the issue names, whatever the table says.
func TestMatrixRules(t *testing.T) {
	for _, tc := range []struct {
		role, res string
		act       Action
		want      Reach
	}{
		{Ouvrier, Pointages, Create, Own},
		{Ouvrier, Pointages, Read, Own},
		{Ouvrier, Signalements, Create, Assigned},
		{Ouvrier, Chantiers, Read, Assigned},
		{Ouvrier, Chantiers, Create, None},
		{Ouvrier, Users, Create, None},
		{Ouvrier, Users, Update, None},
		{Ouvrier, Pointages, Validate, None},
		{Conducteur, Chantiers, Create, All},
		{Conducteur, Affectations, Update, All},
		{Conducteur, Pointages, Validate, All},
		{Conducteur, Users, Update, None},
		{Conducteur, AdminAPI, Read, None},
		{Admin, Users, Update, All},
		{Admin, AdminAPI, Delete, All},
		{"", Chantiers, Read, None},
		{"chef", Chantiers, Read, None},
		{Admin, "unknown", Read, None},
	} {
		if got := Allowed(tc.role, tc.res, tc.act); got != tc.want {
			t.Errorf("Allowed(%q, %s, %s) = %v, want %v", tc.role, tc.res, tc.act, got, tc.want)
		}
	}
}

func TestScopeGrants(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		res    string
		act    Action
		want   bool
	}{
		{[]string{"read"}, Chantiers, Read, true},
		{[]string{"read"}, Chantiers, Create, false},
		{[]string{"write"}, Chantiers, Delete, true},
		{[]string{"write"}, Chantiers, Read, false},
		{[]string{"pointages:write"}, Pointages, Validate, true},
		{[]string{"pointages:*"}, Pointages, Read, true},
		{[]string{"pointages:*"}, Chantiers, Read, false},
		{[]string{"chantiers:read"}, Chantiers, Update, false},
		{[]string{"read", "write"}, AdminAPI, Read, false},
		{[]string{"admin"}, AdminAPI, Delete, true},
		{[]string{"admin:*"}, AdminAPI, Read, false},
		{nil, Chantiers, Read, false},
	} {
		if got := ScopeGrants(tc.scopes, tc.res, tc.act); got != tc.want {
			t.Errorf("ScopeGrants(%v, %s, %s) = %v", tc.scopes, tc.res, tc.act, got)
		}
	}
}

func TestCheck(t *testing.T) {
	c := func(sub, role string, scopes ...string) *assertion.Claims {
		return &assertion.Claims{Subject: sub, Role: role, Method: assertion.MethodJWT, Scopes: scopes}
	}
	for _, tc := range []struct {
		name   string
		c      *assertion.Claims
		status int
	}{
		{"nil", nil, http.StatusUnauthorized},
		{"anonymous", c("", ""), http.StatusUnauthorized},
		{"bad subject", c("x", Admin, "write"), http.StatusUnauthorized},
		{"role refuses", c("3", Ouvrier, "write"), http.StatusForbidden},
		{"scope refuses", c("3", Conducteur, "read"), http.StatusForbidden},
		{"allowed", c("3", Conducteur, "write"), 0},
	} {
		d, p := Check(tc.c, Chantiers, Create)
		switch {
		case tc.status == 0 && (p != nil || d.UserID != 3 || d.Reach != All):
			t.Errorf("%s: %+v %v", tc.name, d, p)
		case tc.status != 0 && (p == nil || p.Status != tc.status):
			t.Errorf("%s: problem %v, want status %d", tc.name, p, tc.status)
		case p != nil && p.Status == http.StatusForbidden && p.Type != "urn:hubchantier:problem:permission-denied":
			t.Errorf("%s: type %q", tc.name, p.Type)
		}
	}
}
