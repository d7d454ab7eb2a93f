package problem

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestNew(t *testing.T) {
	p := New(http.StatusForbidden, "insufficient-scope", "Insufficient scope", "needs read")
	if p.Type != TypePrefix+"insufficient-scope" || p.Status != 403 || p.Title != "Insufficient scope" || p.Detail != "needs read" {
		t.Fatalf("New = %+v", p)
	}
	if got, want := p.Error(), "Insufficient scope: needs read"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		nilRequest bool
		preset     http.Header
		problem    func() *Problem
		wantStatus int
		wantBody   map[string]any // nil: no body expected
		wantHeader map[string]string
	}{
		{
			name:       "plain",
			method:     http.MethodGet,
			problem:    func() *Problem { return New(404, "not-found", "Not found", "no such chantier") },
			wantStatus: 404,
			wantBody: map[string]any{
				"type": TypePrefix + "not-found", "title": "Not found", "status": 404.0,
				"detail": "no such chantier", "instance": "/api/v1/chantiers/7",
			},
		},
		{
			name:   "extension members merged",
			method: http.MethodPost,
			problem: func() *Problem {
				return New(403, "insufficient-scope", "Insufficient scope", "d").
					With("required_scopes", []string{"read", "chantiers:read"}).
					With("retry", 3)
			},
			wantStatus: 403,
			wantBody: map[string]any{
				"type": TypePrefix + "insufficient-scope", "title": "Insufficient scope", "status": 403.0,
				"detail": "d", "instance": "/api/v1/chantiers/7",
				"required_scopes": []any{"read", "chantiers:read"}, "retry": 3.0,
			},
		},
		{
			name:   "extension members cannot override standard members",
			method: http.MethodGet,
			problem: func() *Problem {
				return New(401, "unauthenticated", "Authentication required", "").
					With("status", 200).With("type", "about:blank").With("title", "x")
			},
			wantStatus: 401,
			wantBody: map[string]any{
				"type": TypePrefix + "unauthenticated", "title": "Authentication required", "status": 401.0,
				"instance": "/api/v1/chantiers/7",
			},
		},
		{
			name:   "explicit instance kept",
			method: http.MethodGet,
			problem: func() *Problem {
				p := New(409, "conflict", "Conflict", "")
				p.Instance = "urn:req:1"
				return p
			},
			wantStatus: 409,
			wantBody: map[string]any{
				"type": TypePrefix + "conflict", "title": "Conflict", "status": 409.0, "instance": "urn:req:1",
			},
		},
		{
			name:       "HEAD writes no body",
			method:     http.MethodHead,
			problem:    func() *Problem { return New(401, "unauthenticated", "Authentication required", "x") },
			wantStatus: 401,
			wantBody:   nil,
		},
		{
			name:       "nil request",
			nilRequest: true,
			problem:    func() *Problem { return New(503, "unavailable", "Unavailable", "") },
			wantStatus: 503,
			wantBody:   map[string]any{"type": TypePrefix + "unavailable", "title": "Unavailable", "status": 503.0},
		},
		{
			name:   "existing headers kept, validators dropped, content headers replaced",
			method: http.MethodGet,
			preset: http.Header{
				"Www-Authenticate": {`Bearer realm="hubgate", error="invalid_token"`},
				"Retry-After":      {"5"},
				"X-Request-Id":     {"abc"},
				"Etag":             {`"v1"`},
				"Last-Modified":    {"Mon, 02 Jan 2006 15:04:05 GMT"},
				"Content-Type":     {"text/html"},
				"Content-Length":   {"9999"},
				"Cache-Control":    {"public, max-age=3600"},
			},
			problem:    func() *Problem { return New(401, "invalid-token", "Invalid credentials", "") },
			wantStatus: 401,
			wantBody: map[string]any{
				"type": TypePrefix + "invalid-token", "title": "Invalid credentials", "status": 401.0,
				"instance": "/api/v1/chantiers/7",
			},
			wantHeader: map[string]string{
				"WWW-Authenticate": `Bearer realm="hubgate", error="invalid_token"`,
				"Retry-After":      "5",
				"X-Request-Id":     "abc",
				"ETag":             "",
				"Last-Modified":    "",
			},
		},
		{
			name:   "unmarshalable extension falls back to 500",
			method: http.MethodGet,
			problem: func() *Problem {
				return New(400, "bad", "Bad", "").With("nan", math.NaN())
			},
			wantStatus: 500,
			wantBody:   map[string]any{"type": "about:blank", "title": "Internal Server Error", "status": 500.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *http.Request
			if !tt.nilRequest {
				r = httptest.NewRequest(tt.method, "/api/v1/chantiers/7?x=1", nil)
			}
			w := httptest.NewRecorder()
			for k, v := range tt.preset {
				w.Header()[k] = v
			}
			Write(w, r, tt.problem())

			res := w.Result()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if ct := res.Header.Get("Content-Type"); ct != ContentType {
				t.Errorf("Content-Type = %q, want %q", ct, ContentType)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			for k, want := range tt.wantHeader {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			cl, err := strconv.Atoi(res.Header.Get("Content-Length"))
			if err != nil {
				t.Fatalf("Content-Length %q: %v", res.Header.Get("Content-Length"), err)
			}
			body := w.Body.Bytes()
			if tt.wantBody == nil {
				if len(body) != 0 {
					t.Fatalf("HEAD body = %q, want none", body)
				}
				// RFC 9110 §9.3.2: HEAD carries the Content-Length a GET would.
				if cl == 0 {
					t.Fatal("HEAD Content-Length = 0, want the length of the GET body")
				}
				return
			}
			if cl != len(body) {
				t.Fatalf("Content-Length = %d, body has %d bytes", cl, len(body))
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if !jsonEqual(got, tt.wantBody) {
				t.Fatalf("body = %v, want %v", got, tt.wantBody)
			}
		})
	}
}

// TestWriteHeadMatchesGet checks that HEAD announces the same length as GET.
func TestWriteHeadMatchesGet(t *testing.T) {
	lengths := map[string]string{}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		w := httptest.NewRecorder()
		Write(w, httptest.NewRequest(m, "/x", nil), New(404, "not-found", "Not found", "d"))
		lengths[m] = w.Header().Get("Content-Length")
	}
	if lengths[http.MethodGet] != lengths[http.MethodHead] {
		t.Fatalf("Content-Length GET %s, HEAD %s", lengths[http.MethodGet], lengths[http.MethodHead])
	}
}

func TestMarshalJSONOmitsEmpty(t *testing.T) {
	b, err := json.Marshal(&Problem{Type: "t", Title: "T", Status: 400})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"status":400,"title":"T","type":"t"}`; got != want {
		t.Fatalf("MarshalJSON = %s, want %s", got, want)
	}
}

func jsonEqual(a, b map[string]any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}
