package hubbody

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/problem"
)

// failingBody yields some bytes, then err.
type failingBody struct {
	data string
	err  error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if b.data != "" {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	return 0, b.err
}

func (b *failingBody) Close() error { return nil }

func TestServeHTTP(t *testing.T) {
	h := &Handler{MaxSize: 16, ReadTimeout: caddy.Duration(time.Second)}
	cases := []struct {
		name       string
		body       io.ReadCloser
		length     int64
		chunked    bool
		wantStatus int    // 0: next runs
		wantType   string // problem slug
		wantBody   string // what next reads
	}{
		{name: "no body", body: http.NoBody, wantBody: ""},
		{name: "whole body", body: io.NopCloser(strings.NewReader(`{"a":1}`)), length: 7, wantBody: `{"a":1}`},
		{name: "chunked body", body: io.NopCloser(strings.NewReader(`{"a":1}`)), length: -1, chunked: true, wantBody: `{"a":1}`},
		{name: "exactly max_size", body: io.NopCloser(strings.NewReader(strings.Repeat("x", 16))), length: -1, chunked: true, wantBody: strings.Repeat("x", 16)},
		{name: "declared too large", body: io.NopCloser(strings.NewReader("")), length: 17, wantStatus: 413, wantType: "body-too-large"},
		{name: "streamed too large", body: io.NopCloser(strings.NewReader(strings.Repeat("x", 17))), length: -1, chunked: true, wantStatus: 413, wantType: "body-too-large"},
		{name: "malformed chunks", body: &failingBody{data: "ab", err: errors.New("invalid byte in chunk length")}, length: -1, chunked: true, wantStatus: 400, wantType: "malformed-body"},
		{name: "short body", body: &failingBody{data: "ab", err: io.ErrUnexpectedEOF}, length: 10, wantStatus: 400, wantType: "malformed-body"},
		{name: "too slow", body: &failingBody{err: os.ErrDeadlineExceeded}, length: 10, wantStatus: 408, wantType: "body-timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/chantiers", nil)
			r.Body, r.ContentLength = c.body, c.length
			if c.chunked {
				r.TransferEncoding = []string{"chunked"}
			}
			w := httptest.NewRecorder()
			ran, got := false, ""
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				ran = true
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
				if r.ContentLength != int64(len(b)) || len(r.TransferEncoding) != 0 {
					t.Errorf("next sees ContentLength %d, TransferEncoding %v for %d bytes", r.ContentLength, r.TransferEncoding, len(b))
				}
				return nil
			})
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if c.wantStatus == 0 {
				if !ran || got != c.wantBody {
					t.Fatalf("next ran %v with %q, want %q", ran, got, c.wantBody)
				}
				return
			}
			if ran {
				t.Fatal("next ran for a refused body")
			}
			if w.Code != c.wantStatus || w.Header().Get("Content-Type") != problem.ContentType || w.Header().Get("Connection") != "close" {
				t.Fatalf("answer %d %q (Connection %q), want %d problem+json", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Connection"), c.wantStatus)
			}
			var p problem.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type != problem.TypePrefix+c.wantType {
				t.Fatalf("problem %+v (%v), want type %s", p, err, c.wantType)
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser("hub_request_body {\n max_size 2MiB\n read_timeout 5s\n}")
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.MaxSize != 2<<20 || time.Duration(h.ReadTimeout) != 5*time.Second {
		t.Fatalf("got %+v", h)
	}
	for _, bad := range []string{
		"hub_request_body extra",
		"hub_request_body {\n max_size zero\n}",
		"hub_request_body {\n read_timeout -1s\n}",
		"hub_request_body {\n read_timeout 5s 6s\n}",
		"hub_request_body {\n nope 1\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// On the OAuth token, revoke and introspect endpoints the refusal speaks
// OAuth (RFC 6749 §5.2), as every gateway-made error there does.
func TestOAuthEndpointsGetOAuthErrors(t *testing.T) {
	h := &Handler{MaxSize: 4, ReadTimeout: caddy.Duration(time.Second)}
	r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=x"))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Fatal("next ran")
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error string `json:"error"`
	}
	if w.Code != http.StatusRequestEntityTooLarge || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error != "invalid_request" {
		t.Fatalf("answer %d %s, want 413 with an OAuth error", w.Code, w.Body)
	}
}
