package hub

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/jsonx"
)

func caddyRequest(method, target string) (*http.Request, *httptest.ResponseRecorder) {
	w := httptest.NewRecorder()
	r := caddyhttp.PrepareRequest(httptest.NewRequest(method, target, nil), caddy.NewReplacer(), w, nil)
	return r, w
}

// TestStateSharedByCopies: every accessor reads what another handler
// wrote, on whatever copy of the request it holds, through one variable.
func TestStateSharedByCopies(t *testing.T) {
	r, _ := caddyRequest(http.MethodGet, "/api/v1/chantiers/1")
	inner := r.WithContext(r.Context())
	id := &Identity{Subject: "7", Method: "jwt"}
	SetIdentity(inner, id)
	KeepUpstreamETag(inner, `"v1"`)
	KeepUpstreamETag(inner, `"v2"`) // the first one kept wins
	plan := &jsonx.Plan{Raw: "id"}
	SetFieldsPlan(inner, plan)
	if IdentityOf(r) != id || UpstreamETag(r) != `"v1"` || FieldsPlanOf(r) != plan {
		t.Fatalf("outer copy sees %+v %q %+v", IdentityOf(r), UpstreamETag(r), FieldsPlanOf(r))
	}
	before := map[string]bool{}
	fresh, _ := caddyRequest(http.MethodGet, "/")
	for k := range fresh.Context().Value(caddyhttp.VarsCtxKey).(map[string]any) {
		before[k] = true // Caddy's own (client_ip, start_time, …)
	}
	for k := range r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any) {
		if !before[k] && k != stateVar {
			t.Errorf("variable %q set besides %q", k, stateVar)
		}
	}
}

// TestStateOutsideCaddy: without Caddy's variables setters do nothing and
// getters answer zeros (as caddyhttp.SetVar and GetVar did).
func TestStateOutsideCaddy(t *testing.T) {
	r := httptest.NewRequest(http.MethodHead, "/x", nil)
	SetIdentity(r, &Identity{Subject: "7"})
	KeepUpstreamETag(r, `"v1"`)
	ForwardAsGet(r)
	if IdentityOf(r) != nil || UpstreamETag(r) != "" || FieldsPlanOf(r) != nil || RequestID(r) != "" {
		t.Fatal("state outside Caddy")
	}
	if UpstreamMethod(r) != http.MethodGet {
		t.Fatalf("UpstreamMethod = %s, want the request's GET", UpstreamMethod(r))
	}
}

// TestUpstreamMethod: a HEAD a body transformer sends inward as a GET is
// asked upstream as a GET, whichever copy of the request asks.
func TestUpstreamMethod(t *testing.T) {
	r, w := caddyRequest(http.MethodHead, "/api/v1/chantiers/1")
	if UpstreamMethod(r) != http.MethodHead {
		t.Fatalf("before: %s", UpstreamMethod(r))
	}
	dw, g := HeadAsGet(w, r)
	if r.Method != http.MethodHead || g.Method != http.MethodGet {
		t.Fatalf("methods: client %s, inner %s", r.Method, g.Method)
	}
	g.Header.Set("X-Inner", "1")
	if r.Header.Get("X-Inner") != "" {
		t.Fatal("the inner copy shares the client's header map")
	}
	if UpstreamMethod(r) != http.MethodGet || UpstreamMethod(g) != http.MethodGet {
		t.Fatalf("after: %s, %s", UpstreamMethod(r), UpstreamMethod(g))
	}
	dw.Header().Set("Content-Length", "5")
	dw.WriteHeader(http.StatusOK)
	if n, err := dw.Write([]byte("hello")); n != 5 || err != nil || w.Body.Len() != 0 {
		t.Fatalf("body of a HEAD sent: %d %v %q", n, err, w.Body)
	}
	if w.Header().Get("Content-Length") != "5" {
		t.Fatal("headers of the GET lost")
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		written int
		err     error
		want    int
	}{
		{0, nil, 200},
		{404, nil, 404},
		{0, caddyhttp.Error(502, fmt.Errorf("dial")), 502},
		{0, fmt.Errorf("boom"), 500},
	}
	for _, tt := range tests {
		if got := StatusFor(tt.written, tt.err); got != tt.want {
			t.Errorf("StatusFor(%d, %v) = %d, want %d", tt.written, tt.err, got, tt.want)
		}
	}
}

// TestTrackStatusOnce: the outermost handler wraps the writer; an inner
// one reads the same recorder and adds no wrapper.
func TestTrackStatusOnce(t *testing.T) {
	r, w := caddyRequest(http.MethodGet, "/x")
	outer := TrackStatus(w, r)
	if outer.Writer() == http.ResponseWriter(w) {
		t.Fatal("the outermost handler did not wrap")
	}
	var inner Status
	err := caddyhttp.HandlerFunc(func(ow http.ResponseWriter, r *http.Request) error {
		inner = TrackStatus(ow, r)
		if inner.Writer() != ow {
			t.Fatal("an inner handler wrapped again")
		}
		inner.Writer().WriteHeader(http.StatusTeapot)
		return nil
	}).ServeHTTP(outer.Writer(), r)
	if outer.Final(err) != http.StatusTeapot || inner.Final(err) != http.StatusTeapot || w.Code != http.StatusTeapot {
		t.Fatalf("outer %d, inner %d, sent %d", outer.Final(err), inner.Final(err), w.Code)
	}
	// Outside Caddy each caller gets its own recorder.
	plain := httptest.NewRequest(http.MethodGet, "/x", nil)
	pw := httptest.NewRecorder()
	st := TrackStatus(pw, plain)
	if st.Writer() == http.ResponseWriter(pw) || st.Final(nil) != http.StatusOK {
		t.Fatal("no recorder outside Caddy")
	}
}

// TestIdempotentReplay: the replay mark is shared by the request's copies
// and absent outside Caddy.
func TestIdempotentReplay(t *testing.T) {
	r, _ := caddyRequest(http.MethodPost, "/api/v1/things")
	if IdempotentReplayOf(r) != "" {
		t.Fatal("a fresh request is a replay")
	}
	SetIdempotentReplay(r.WithContext(r.Context()), "rid-1")
	if IdempotentReplayOf(r) != "rid-1" {
		t.Fatalf("replay of %q", IdempotentReplayOf(r))
	}
	plain := httptest.NewRequest(http.MethodPost, "/", nil)
	SetIdempotentReplay(plain, "x")
	if IdempotentReplayOf(plain) != "" {
		t.Fatal("state outside Caddy")
	}
}
