package console

import (
	"net/url"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/audit"
)

// FuzzSafeNext: whatever a sign-in form's next field holds, the browser is
// sent to a path of the console on this origin (no open redirect).
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/console/usage", "//evil.example/console/", "/console/\\\\evil", "https://evil.example/",
		"/console/../oauth/authorize", "/console/%0d%0aSet-Cookie:x", "", "/console//evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeNext(in)
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(out, Prefix) ||
			strings.HasPrefix(out, "//") || strings.ContainsAny(out, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q", in, out)
		}
	})
}

// FuzzAuditQuery: the audit viewer's form, whatever it holds, becomes a
// query of known parameters that audit.ParseQuery accepts or refuses with
// field errors, never a panic; the page size stays 25.
func FuzzAuditQuery(f *testing.F) {
	for _, s := range []string{"api_key_id=abc&from=2026-01-01&to=2026-01-31", "status_code=42", "from=2026-13-01",
		"cursor=x&cursor=y", "user_id=1&limit=1000&evil=1", "to=2026-01-01&from=2026-02-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		in, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		api, _ := auditQuery(in)
		for k := range api {
			if k != "limit" && k != "cursor" && !contains(auditFilters, k) {
				t.Fatalf("unknown parameter %q passed on from %q", k, raw)
			}
		}
		q, errs := audit.ParseQuery(api)
		if len(errs) == 0 && q.Limit != 25 {
			t.Fatalf("limit %d from %q", q.Limit, raw)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestSafeNext pins the cases the fuzz seeds stand for.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/usage":          "/console/usage",
		"//evil.example/console/": "/console/api-keys",
		"https://evil.example/":   "/console/api-keys",
		"/console/\\evil":         "/console/api-keys",
		"":                        "/console/api-keys",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
