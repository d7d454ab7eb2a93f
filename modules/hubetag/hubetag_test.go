package hubetag

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/modules/hub"
)

const rowBody = `{"id":1,"nom":"Chantier A","version":3}`

// newHandler is a provisioned-enough handler (an empty caddy.Context has
// no apps): defaults of Provision, no metrics registry.
func newHandler(t testing.TB) *Handler {
	t.Helper()
	h := &Handler{MaxSize: DefaultMaxSize, cacheControl: DefaultCacheControl, responses: collectors()}
	return h
}

// upstream is a next handler that answers like the upstream: a row with
// its ETag, or a list without one. It records the request it saw.
type upstream struct {
	status    int
	body      string
	header    map[string]string
	etag      string // ETag header; "" for none
	varETag   string // kept by hub.KeepUpstreamETag (a transformer moved it)
	chunked   bool   // no Content-Length
	readFrom  bool   // write through io.Copy (ReadFrom), as reverse_proxy does
	flushEach bool
	err       error
	seen      *http.Request
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.seen = r
	if u.err != nil {
		return u.err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	for k, v := range u.header {
		hdr.Set(k, v)
	}
	if u.etag != "" {
		hdr.Set("ETag", u.etag)
	}
	if u.varETag != "" {
		hub.KeepUpstreamETag(r, u.varETag)
	}
	if !u.chunked {
		hdr.Set("Content-Length", strconv.Itoa(len(u.body)))
	}
	status := u.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	if u.readFrom {
		_, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader(u.body))
		return err
	}
	for i := 0; i < len(u.body); i += 7 {
		_, _ = w.Write([]byte(u.body[i:min(i+7, len(u.body))]))
		if u.flushEach {
			_ = http.NewResponseController(w).Flush()
		}
	}
	return nil
}

// serve runs one request through h and u; hdr holds header pairs.
func serve(t *testing.T, h *Handler, u *upstream, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, nil)
	if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(u.ServeHTTP)); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

// tagOf returns the ETag a plain GET gets.
func tagOf(t *testing.T, h *Handler, u upstream) string {
	t.Helper()
	w := serve(t, h, &u, "GET", "/api/v1/chantiers/1")
	if w.Code != 200 || w.Header().Get("ETag") == "" {
		t.Fatalf("GET: %d, ETag %q", w.Code, w.Header().Get("ETag"))
	}
	return w.Header().Get("ETag")
}

func TestTagging(t *testing.T) {
	tests := []struct {
		name     string
		u        upstream
		method   string
		wantTag  string // "computed", "computed-v3", "kept", "none"
		wantBody bool
	}{
		{"list without tag: hash", upstream{body: rowBody}, "GET", "computed", true},
		{"transformed row: version + hash", upstream{body: rowBody, varETag: `"v3"`}, "GET", "computed-v3", true},
		{"untouched row: upstream tag kept", upstream{body: rowBody, etag: `"v3"`}, "GET", "kept", true},
		{"untouched, weak upstream tag kept", upstream{body: rowBody, etag: `W/"x"`}, "GET", "kept", true},
		{"chunked", upstream{body: rowBody, chunked: true, varETag: `"v3"`}, "GET", "computed-v3", true},
		{"through ReadFrom", upstream{body: rowBody, readFrom: true}, "GET", "computed", true},
		{"flushes while held", upstream{body: rowBody, chunked: true, flushEach: true}, "GET", "computed", true},
		{"404 untouched", upstream{status: 404, body: `{"status":404}`}, "GET", "none", true},
		{"206 untouched", upstream{status: 206, body: rowBody}, "GET", "none", true},
		{"204 untouched", upstream{status: 204, body: ""}, "DELETE", "none", false},
		{"SSE untouched", upstream{body: "data: x\n\n", chunked: true, header: map[string]string{"Content-Type": "text/event-stream"}}, "GET", "none", true},
		{"PATCH answer transformed: computed", upstream{body: rowBody, varETag: `"v4"`}, "PATCH", "computed-v4", true},
		{"PATCH answer untouched: kept", upstream{body: rowBody, etag: `"v4"`}, "PATCH", "kept", true},
		{"POST 201 transformed: computed", upstream{status: 201, body: rowBody, varETag: `"v1"`}, "POST", "computed-v1", true},
		{"GET 201 untouched", upstream{status: 201, body: rowBody}, "GET", "none", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t)
			u := tt.u
			w := serve(t, h, &u, tt.method, "/api/v1/chantiers/1")
			tag := w.Header().Get("ETag")
			switch tt.wantTag {
			case "computed":
				if tag != computeTag("", []byte(u.body)) {
					t.Errorf("ETag %q, want the hash of the body", tag)
				}
			case "computed-v3", "computed-v4", "computed-v1":
				want := computeTag(`"`+strings.TrimPrefix(tt.wantTag, "computed-")+`"`, []byte(u.body))
				if tag != want {
					t.Errorf("ETag %q, want %q", tag, want)
				}
			case "kept":
				if tag != u.etag {
					t.Errorf("ETag %q, want the upstream's %q", tag, u.etag)
				}
			case "none":
				if tag != "" {
					t.Errorf("ETag %q, want none", tag)
				}
			}
			if got := w.Body.String(); (got == u.body) != tt.wantBody && u.body != "" {
				t.Errorf("body %q, want %q", got, u.body)
			}
			if strings.HasPrefix(tt.wantTag, "computed") && w.Header().Get("Content-Length") != strconv.Itoa(len(u.body)) {
				t.Errorf("Content-Length %q", w.Header().Get("Content-Length"))
			}
			wantCC := tt.method == "GET" && tt.wantTag != "none"
			if got := w.Header().Get("Cache-Control"); (got == DefaultCacheControl) != wantCC {
				t.Errorf("Cache-Control %q (want default: %v)", got, wantCC)
			}
		})
	}
}

func TestCacheControlKeptOrOff(t *testing.T) {
	h := newHandler(t)
	u := upstream{body: rowBody, header: map[string]string{"Cache-Control": "max-age=60"}}
	if got := serve(t, h, &u, "GET", "/x").Header().Get("Cache-Control"); got != "max-age=60" {
		t.Errorf("upstream Cache-Control replaced: %q", got)
	}
	h.cacheControl = ""
	u = upstream{body: rowBody}
	if got := serve(t, h, &u, "GET", "/x").Header().Get("Cache-Control"); got != "" {
		t.Errorf("cache_control off, got %q", got)
	}
}

func TestSizeLimit(t *testing.T) {
	big := `{"data":"` + strings.Repeat("x", 300) + `"}`
	tests := []struct {
		name string
		u    upstream
	}{
		{"declared too large", upstream{body: big, varETag: `"v3"`}},
		{"counted too large", upstream{body: big, chunked: true, varETag: `"v3"`}},
		{"counted too large through ReadFrom", upstream{body: big, chunked: true, readFrom: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t)
			h.MaxSize = 100
			u := tt.u
			w := serve(t, h, &u, "GET", "/x", "If-None-Match", "*")
			if w.Code != 200 || w.Body.String() != big {
				t.Fatalf("%d, body of %d bytes; want the 200 untouched", w.Code, w.Body.Len())
			}
			if tag := w.Header().Get("ETag"); tag != "" {
				t.Errorf("ETag %q on a body not hashed", tag)
			}
		})
	}
	// An upstream tag needs no buffering: kept whatever the size.
	h := newHandler(t)
	h.MaxSize = 100
	u := upstream{body: big, etag: `"v3"`}
	if w := serve(t, h, &u, "GET", "/x", "If-None-Match", `"v3"`); w.Code != 304 {
		t.Errorf("large body with upstream tag: %d, want 304", w.Code)
	}
}

func TestNotModified(t *testing.T) {
	h := newHandler(t)
	base := upstream{body: rowBody, varETag: `"v3"`, header: map[string]string{"Vary": "Accept-Encoding", "X-Request-Id": "rid-1", "Deprecation": "@1"}}
	tag := tagOf(t, h, base)
	tests := []struct {
		name, inm string
		want      int
	}{
		{"same tag", tag, 304},
		{"weak form of it", "W/" + tag, 304},
		{"in a list", `"zzz", ` + tag, 304},
		{"star", "*", 304},
		{"bare upstream version is another representation", `"v3"`, 200},
		{"other", `"v2.AAAAAAAAAAAAAAAA"`, 200},
		{"garbage", `nonsense`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{"GET", "HEAD"} {
				u := base
				w := serve(t, h, &u, method, "/api/v1/chantiers/1", "If-None-Match", tt.inm, "If-Modified-Since", "Sat, 01 Mar 2025 08:00:00 GMT")
				if w.Code != tt.want {
					t.Fatalf("%s: %d, want %d", method, w.Code, tt.want)
				}
				if u.seen.Header.Get("If-None-Match") != "" || u.seen.Header.Get("If-Modified-Since") != "" {
					t.Errorf("%s: conditional fields went inward: %v", method, u.seen.Header)
				}
				hdr := w.Header()
				if hdr.Get("ETag") != tag {
					t.Errorf("%s: ETag %q, want %q", method, hdr.Get("ETag"), tag)
				}
				for k, v := range map[string]string{"Cache-Control": DefaultCacheControl, "Vary": "Accept-Encoding", "X-Request-Id": "rid-1", "Deprecation": "@1"} {
					if hdr.Get(k) != v {
						t.Errorf("%s %d: %s %q, want %q", method, w.Code, k, hdr.Get(k), v)
					}
				}
				if tt.want == 304 {
					if w.Body.Len() != 0 || hdr.Get("Content-Type") != "" || hdr.Get("Content-Length") != "" {
						t.Errorf("304 with body %q, Content-Type %q, Content-Length %q", w.Body, hdr.Get("Content-Type"), hdr.Get("Content-Length"))
					}
				}
			}
		})
	}
}

// TestPreconditionOrder is the RFC 9110 §13.2.2 table for a GET whose
// response would be 200 (and for a 404, where every precondition is
// ignored: the error wins).
func TestPreconditionOrder(t *testing.T) {
	h := newHandler(t)
	base := upstream{body: rowBody, varETag: `"v3"`}
	tag := tagOf(t, h, base)
	other := `"v2.AAAAAAAAAAAAAAAA"`
	tests := []struct {
		name         string
		status       int
		ifMatch, inm string
		want         int
		wantProblem  bool
	}{
		{"none", 200, "", "", 200, false},
		{"If-Match true", 200, tag, "", 200, false},
		{"If-Match true by version (v1 tag)", 200, `"v3"`, "", 200, false},
		{"If-Match star", 200, "*", "", 200, false},
		{"If-Match false", 200, other, "", 412, true},
		{"If-Match weak never matches", 200, "W/" + tag, "", 412, true},
		{"If-Match false wins over If-None-Match", 200, other, tag, 412, true},
		{"If-Match true, If-None-Match false", 200, tag, tag, 304, false},
		{"If-Match true, If-None-Match true", 200, tag, other, 200, false},
		{"If-None-Match false", 200, "", tag, 304, false},
		{"404: If-Match ignored", 404, other, "", 404, false},
		{"404: If-None-Match star ignored", 404, "", "*", 404, false},
		{"401 wins", 401, other, tag, 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := base
			u.status = tt.status
			var hdr []string
			if tt.ifMatch != "" {
				hdr = append(hdr, "If-Match", tt.ifMatch)
			}
			if tt.inm != "" {
				hdr = append(hdr, "If-None-Match", tt.inm)
			}
			w := serve(t, h, &u, "GET", "/api/v1/chantiers/1", hdr...)
			if w.Code != tt.want {
				t.Fatalf("%d, want %d: %s", w.Code, tt.want, w.Body)
			}
			isProblem := w.Header().Get("Content-Type") == "application/problem+json" && strings.Contains(w.Body.String(), "urn:hubchantier:problem:precondition-failed")
			if isProblem != tt.wantProblem {
				t.Errorf("problem body %v, want %v: %s", isProblem, tt.wantProblem, w.Body)
			}
		})
	}
}

func TestHead(t *testing.T) {
	h := newHandler(t)
	u := upstream{body: rowBody, varETag: `"v3"`}
	getTag := tagOf(t, h, u)

	w := serve(t, h, &u, "HEAD", "/api/v1/chantiers/1")
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("HEAD: %d with %d body bytes", w.Code, w.Body.Len())
	}
	if got := w.Header().Get("ETag"); got != getTag {
		t.Errorf("HEAD ETag %q, GET's %q", got, getTag)
	}
	if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(rowBody)) {
		t.Errorf("HEAD Content-Length %q, want the GET's %d", got, len(rowBody))
	}
	if u.seen.Method != "GET" {
		t.Fatalf("inner method %s, want GET", u.seen.Method)
	}
	// The assertion signed at the proxy boundary ({hub.assertion}) binds
	// the method the upstream is asked.
	if m := hub.UpstreamMethod(u.seen); m != "GET" {
		t.Fatalf("upstream method %s, want GET", m)
	}
}

func TestWriteConditions(t *testing.T) {
	h := newHandler(t)
	tag := tagOf(t, h, upstream{body: rowBody, varETag: `"v3"`})
	tests := []struct {
		name                 string
		ifMatch, inm         string
		wantIfMatch, wantINM string
	}{
		{"our tag → version", tag, "", `"v3"`, ""},
		{"upstream tag as is", `"v3"`, "", `"v3"`, ""},
		{"star", "*", "", "*", ""},
		{"weak: never matches", "W/" + tag, "", `"v0"`, ""},
		{"garbage: never matches", "garbage", "", `"v0"`, ""},
		{"list", tag + `, "v4"`, "", `"v3", "v4"`, ""},
		{"If-None-Match star", "", "*", "", "*"},
		{"If-None-Match tag", "", "W/" + tag, "", `"v3"`},
		{"If-None-Match unknown tags dropped", "", `"abc"`, "", ""},
		{"both", tag, `"v2"`, `"v3"`, `"v2"`},
	}
	for _, tt := range tests {
		for _, method := range []string{"PUT", "PATCH", "DELETE"} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				u := upstream{body: rowBody, etag: `"v4"`}
				var hdr []string
				if tt.ifMatch != "" {
					hdr = append(hdr, "If-Match", tt.ifMatch)
				}
				if tt.inm != "" {
					hdr = append(hdr, "If-None-Match", tt.inm)
				}
				r := httptest.NewRequest(method, "/api/v1/chantiers/1", nil)
				for i := 0; i < len(hdr); i += 2 {
					r.Header.Set(hdr[i], hdr[i+1])
				}
				r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), httptest.NewRecorder(), nil)
				w := httptest.NewRecorder()
				if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(u.ServeHTTP)); err != nil {
					t.Fatal(err)
				}
				if got := u.seen.Header.Get("If-Match"); got != tt.wantIfMatch {
					t.Errorf("If-Match upstream %q, want %q", got, tt.wantIfMatch)
				}
				if got := u.seen.Header.Get("If-None-Match"); got != tt.wantINM {
					t.Errorf("If-None-Match upstream %q, want %q", got, tt.wantINM)
				}
				if r.Header.Get("If-Match") != tt.ifMatch {
					t.Errorf("the client's request was changed: %v", r.Header)
				}
				if w.Code != 200 || w.Header().Get("ETag") != `"v4"` {
					t.Errorf("answer %d ETag %q", w.Code, w.Header().Get("ETag"))
				}
			})
		}
	}
}

func TestInnerError(t *testing.T) {
	h := newHandler(t)
	boom := caddyhttp.Error(http.StatusBadGateway, errors.New("down"))
	u := upstream{err: boom}
	r := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/x", nil), caddy.NewReplacer(), httptest.NewRecorder(), nil)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(u.ServeHTTP)); !errors.Is(err, boom) {
		t.Fatalf("error %v, want the inner one", err)
	}
	if w.Body.Len() != 0 || w.Header().Get("ETag") != "" {
		t.Errorf("something was written: %q %v", w.Body, w.Header())
	}
}
