package hub

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/hubchantier/hubgate/internal/problem"
)

// descriptionChars is RFC 6749 §5.2's error_description character set.
var descriptionChars = regexp.MustCompile(`^[\x20\x21\x23-\x5B\x5D-\x7E]*$`)

func TestWriteProblemOAuthEndpoints(t *testing.T) {
	tests := []struct {
		path, ct string
		status   int
		code     string
	}{
		{"/oauth/token", "application/json;charset=UTF-8", 429, "temporarily_unavailable"},
		{"/oauth/revoke", "application/json;charset=UTF-8", 503, "temporarily_unavailable"},
		{"/oauth/introspect", "application/json;charset=UTF-8", 413, "invalid_request"},
		{"/oauth/token", "application/json;charset=UTF-8", 408, "invalid_request"},
		{"/oauth/token", "application/json;charset=UTF-8", 401, "invalid_client"},
		{"/oauth/token", "application/json;charset=UTF-8", 502, "server_error"},
		{"/oauth/authorize", problem.ContentType, 429, ""},
		{"/api/v1/chantiers", problem.ContentType, 429, ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		w.Header().Set("Retry-After", "7")
		r := httptest.NewRequest(http.MethodPost, tt.path, nil)
		WriteProblem(w, r, problem.New(tt.status, "x", "X", `limit "login" exceeded; retry … \ later`))
		if w.Code != tt.status || w.Header().Get("Content-Type") != tt.ct || w.Header().Get("Retry-After") != "7" {
			t.Errorf("%s %d: status %d, Content-Type %q, Retry-After %q", tt.path, tt.status, w.Code, w.Header().Get("Content-Type"), w.Header().Get("Retry-After"))
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		if tt.code == "" {
			if body["type"] != problem.TypePrefix+"x" {
				t.Errorf("%s: not a problem document: %s", tt.path, w.Body)
			}
			continue
		}
		desc, _ := body["error_description"].(string)
		if body["error"] != tt.code || len(body) != 2 || !descriptionChars.MatchString(desc) || desc == "" {
			t.Errorf("%s %d: body %s", tt.path, tt.status, w.Body)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", tt.path, w.Header().Get("Cache-Control"))
		}
	}
}
