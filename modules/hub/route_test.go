package hub

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestParseRoute: the one parser of "<methods|*> <path>" tokens.
func TestParseRoute(t *testing.T) {
	tests := []struct {
		methods, path string
		want          Route  // configuration returned
		wantErr       string // substring of the error
	}{
		{"GET", "/x", Route{Methods: []string{"GET"}, Path: "/x"}, ""},
		{"get,head", "/x", Route{Methods: []string{"GET", "HEAD"}, Path: "/x"}, ""},
		{"Post,pUT", "/api/v1/chantiers/{id}", Route{Methods: []string{"POST", "PUT"}, Path: "/api/v1/chantiers/{id}"}, ""},
		{"*", "/oauth/*", Route{Path: "/oauth/*"}, ""},
		{"OPTIONS,CONNECT,TRACE,PATCH,DELETE", "/", Route{Methods: []string{"OPTIONS", "CONNECT", "TRACE", "PATCH", "DELETE"}, Path: "/"}, ""},
		{"G3T", "/x", Route{}, `invalid method "G3T"`},
		{"GETS", "/x", Route{}, `invalid method "GETS"`},
		{"M-SEARCH", "/x", Route{}, `invalid method "M-SEARCH"`},
		{"PROPFIND", "/x", Route{}, `invalid method "PROPFIND"`},
		{"GET,,POST", "/x", Route{}, `invalid method ""`},
		{"", "/x", Route{}, `invalid method ""`},
		{"GET,*", "/x", Route{}, "* stands alone"},
		{"GET", "x", Route{}, `"x" must start with /`},
		{"GET", "/a//b", Route{}, "bad segment"},
		{"GET", "", Route{}, "must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.methods+" "+tt.path, func(t *testing.T) {
			got, err := ParseRoute(tt.methods, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Configuration only: the compiled state is rebuilt by Compile
			// in Provision, from the JSON.
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseRoute = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestRouteMatch: the one matcher, and the one HEAD rule (GET matches
// HEAD, HEAD does not match GET).
func TestRouteMatch(t *testing.T) {
	tests := []struct {
		methods, path   string
		method, reqPath string
		want            bool
	}{
		{"GET", "/x", "GET", "/x", true},
		{"GET", "/x", "HEAD", "/x", true},
		{"get", "/x", "HEAD", "/x", true},
		{"HEAD", "/x", "GET", "/x", false},
		{"HEAD", "/x", "HEAD", "/x", true},
		{"GET", "/x", "POST", "/x", false},
		{"POST,PUT", "/x", "PUT", "/x", true},
		{"POST,PUT", "/x", "HEAD", "/x", false},
		{"*", "/x", "PROPFIND", "/x", true},
		{"*", "/x", "get", "/x", true},
		// Request methods are case-sensitive (RFC 9110 §9.1): a lower-case
		// "get" on the wire is not GET.
		{"GET", "/x", "get", "/x", false},
		{"GET", "/x", "PROPFIND", "/x", false},
		{"GET", "/x", "", "/x", false},
		{"GET", "/api/v1/chantiers/{id}", "GET", "/api/v1/chantiers/7", true},
		{"GET", "/api/v1/chantiers/{id}", "GET", "/api/v1/chantiers", false},
		{"*", "/oauth/*", "POST", "/oauth/token", true},
		{"*", "/oauth/*", "POST", "/oauthx", false},
	}
	for _, tt := range tests {
		r, err := ParseRoute(tt.methods, tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Compile(); err != nil {
			t.Fatal(err)
		}
		if got := r.Match(tt.method, tt.reqPath); got != tt.want {
			t.Errorf("%s %s ~ %s %s = %v, want %v", tt.methods, tt.path, tt.method, tt.reqPath, got, tt.want)
		}
	}
}

// TestRouteJSON: the JSON form {"methods": [...], "path": "..."} goes
// through the same checks (Compile) and the same canonical form as the
// Caddyfile tokens; a lone "*" in methods means every method.
func TestRouteJSON(t *testing.T) {
	tests := []struct {
		in          string
		wantMethods []string
		wantErr     string
		head        bool // matches HEAD /x
	}{
		{`{"methods":["get"],"path":"/x"}`, []string{"GET"}, "", true},
		{`{"methods":["*"],"path":"/x"}`, []string{"*"}, "", true},
		{`{"path":"/x"}`, nil, "", true},
		{`{"methods":["POST"],"path":"/x"}`, []string{"POST"}, "", false},
		{`{"methods":["G3T"],"path":"/x"}`, nil, `invalid method "G3T"`, false},
		{`{"methods":["GET"]}`, nil, "must start with /", false},
	}
	for _, tt := range tests {
		var r Route
		if err := json.Unmarshal([]byte(tt.in), &r); err != nil {
			t.Fatal(err)
		}
		err := r.Compile()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if !reflect.DeepEqual(r.Methods, tt.wantMethods) {
			t.Errorf("%s: Methods = %q, want %q", tt.in, r.Methods, tt.wantMethods)
		}
		if got := r.Match("HEAD", "/x"); got != tt.head {
			t.Errorf("%s: HEAD /x = %v, want %v", tt.in, got, tt.head)
		}
	}
	b, _ := json.Marshal(Route{Methods: []string{"GET"}, Path: "/x"})
	if string(b) != `{"methods":["GET"],"path":"/x"}` {
		t.Errorf("JSON form = %s", b)
	}
}

func TestRouteString(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"get,head", "/x"}: "GET,HEAD /x",
		{"*", "/oauth/*"}:  "* /oauth/*",
	} {
		r, err := ParseRoute(in[0], in[1])
		if err != nil {
			t.Fatal(err)
		}
		if got := r.String(); got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
	}
}

func BenchmarkRouteMatch(b *testing.B) {
	r, _ := ParseRoute("POST,PUT,GET", "/api/v1/chantiers/{id}")
	_ = r.Compile()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Match("HEAD", "/api/v1/chantiers/42")
	}
}
