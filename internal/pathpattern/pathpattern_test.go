package pathpattern

import (
	"reflect"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"/api/v1/chantiers", "/api/v1/chantiers", true},
		{"/api/v1/chantiers", "/api/v1/chantiers/", true},
		{"/api/v1/chantiers", "/api/v1/chantiers/1", false},
		{"/api/v1/chantiers/{id}", "/api/v1/chantiers/1", true},
		{"/api/v1/chantiers/{id}", "/api/v1/chantiers", false},
		{"/api/v1/chantiers/{id}", "/api/v1/chantiers/1/x", false},
		{"/a/{id}/b", "/a//b", false},
		{"/oauth/*", "/oauth", true},
		{"/oauth/*", "/oauth/token", true},
		{"/oauth/*", "/oauthx", false},
		{"/*", "/anything/at/all", true},
		{"/", "/", true},
		{"/", "/x", false},
	}
	for _, c := range cases {
		p, err := Compile(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(c.path); got != c.want {
			t.Errorf("%s ~ %s = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, s := range []string{"", "api", "/a//b", "/a/{}/b", "/a/*/b", "/a/{x"} {
		if _, err := Compile(s); err == nil {
			t.Errorf("Compile(%q) accepted", s)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("/api/v1/chantiers/{id}", "/api/v1/chantiers/1")
	f.Add("/oauth/*", "/oauth/token")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		p, err := Compile(pattern)
		if err != nil {
			return
		}
		_ = p.Match(path)
	})
}

func TestCompilePattern(t *testing.T) {
	tests := []struct {
		pattern  string
		wantSegs []string
		wantRest bool
		wantErr  bool
	}{
		{"/", nil, false, false},
		{"/*", nil, true, false},
		{"/healthz", []string{"healthz"}, false, false},
		{"/api/v1/chantiers/{id}", []string{"api", "v1", "chantiers", ""}, false, false},
		{"/api/v1/chantiers/{id}/taches/{tid}", []string{"api", "v1", "chantiers", "", "taches", ""}, false, false},
		{"/oauth/*", []string{"oauth"}, true, false},
		{"/api/", []string{"api"}, false, false},
		{"/{tenant}/*", []string{""}, true, false},
		{"", nil, false, true},
		{"api/v1", nil, false, true},
		{"*", nil, false, true},
		{"/a//b", nil, false, true},
		{"/a/{}/b", nil, false, true},
		{"/a/{id/b", nil, false, true},
		{"/a/id}/b", nil, false, true},
		{"/a/x{id}", nil, false, true},
		{"/a/*/b", nil, false, true},
		{"/a/**", nil, false, true},
		{"/a/b*c", nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := Compile(tt.pattern)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Compile(%q) = %+v, want an error", tt.pattern, p)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.pattern, err)
			}
			if !reflect.DeepEqual(p.segs, tt.wantSegs) || p.rest != tt.wantRest {
				t.Fatalf("Compile(%q) = %q rest=%v, want %q rest=%v", tt.pattern, p.segs, p.rest, tt.wantSegs, tt.wantRest)
			}
		})
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"/api/v1/chantiers/{id}", "/api/v1/chantiers/42", true},
		{"/api/v1/chantiers/{id}", "/api/v1/chantiers/42/", true},
		{"/api/v1/chantiers/{id}", "/api/v1/chantiers", false},
		{"/api/v1/chantiers/{id}", "/api/v1/chantiers/", false},
		{"/api/v1/chantiers/{id}", "/api/v1/chantiers/42/taches", false},
		{"/api/v1/chantiers/{id}", "/api/v1/taches/42", false},
		{"/api/v1/chantiers/{id}", "/api/v1/Chantiers/42", false},
		{"/api/v1/chantiers/{id}/taches", "/api/v1/chantiers/7/taches", true},
		{"/api/v1/chantiers/{id}/taches", "/api/v1/chantiers/7/notes", false},
		{"/oauth/*", "/oauth", true},
		{"/oauth/*", "/oauth/", true},
		{"/oauth/*", "/oauth/token", true},
		{"/oauth/*", "/oauth/a/b/c", true},
		{"/oauth/*", "/oauthx", false},
		{"/oauth/*", "/api/oauth/token", false},
		{"/oauth/*", "/", false},
		{"/", "/", true},
		{"/", "", true},
		{"/", "/x", false},
		{"/*", "/", true},
		{"/*", "/anything/at/all", true},
		{"/healthz", "/healthz", true},
		{"/healthz", "/healthz/", true},
		{"/healthz", "/healthzz", false},
		{"/healthz", "/health", false},
		{"/{tenant}/*", "/acme/x/y", true},
		{"/{tenant}/*", "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.path, func(t *testing.T) {
			p, err := Compile(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(tt.path); got != tt.want {
				t.Fatalf("match(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}
