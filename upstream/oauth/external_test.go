package oauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// flowRequest returns a request carrying the flow cookie BeginExternal set
// on w.
func flowRequest(t testing.TB, w *httptest.ResponseRecorder, query string) *http.Request {
	r := httptest.NewRequest("GET", "/console/login/google/callback?"+query, nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

// TestExternalFlow: the state and verifier BeginExternal gives are the
// ones EndExternal accepts and returns for the same browser and provider
// only; the cookie is HttpOnly, SameSite=Lax and cleared by the callback.
func TestExternalFlow(t *testing.T) {
	s := New(nil, nil, Options{PublicURL: "https://gw.example"})
	w := httptest.NewRecorder()
	state, verifier := s.BeginExternal(w, httptest.NewRequest("GET", "/console/login/google", nil), "google")
	if len(verifier) != 43 || state == verifier {
		t.Fatalf("state %q verifier %q", state, verifier)
	}
	sc := w.Header().Get("Set-Cookie")
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || !strings.Contains(sc, "Max-Age=600") {
		t.Fatalf("flow cookie %q", sc)
	}
	if _, ok := s.EndExternal(httptest.NewRecorder(), flowRequest(t, w, ""), "github", state); ok {
		t.Fatal("a Google flow completed as GitHub")
	}
	if _, ok := s.EndExternal(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), "google", state); ok {
		t.Fatal("a callback without the flow cookie completed")
	}
	w2 := httptest.NewRecorder()
	got, ok := s.EndExternal(w2, flowRequest(t, w, ""), "google", state)
	if !ok || got != verifier {
		t.Fatalf("own callback: ok %v, verifier %q", ok, got)
	}
	if !strings.Contains(w2.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("the callback left the flow cookie: %q", w2.Header().Get("Set-Cookie"))
	}
	// Another server key (another deployment) does not accept it.
	if _, ok := New(nil, nil, Options{PublicURL: "https://gw.example"}).EndExternal(httptest.NewRecorder(), flowRequest(t, w, ""), "google", state); ok {
		t.Fatal("a state made under another key was accepted")
	}
}

// FuzzEndExternal: a callback's state is client input; no state but the
// one made for the browser's flow completes it.
func FuzzEndExternal(f *testing.F) {
	s := New(nil, nil, Options{PublicURL: "https://gw.example"})
	w := httptest.NewRecorder()
	state, _ := s.BeginExternal(w, httptest.NewRequest("GET", "/", nil), "google")
	for _, seed := range []string{"", state[:10], state + "x", strings.ToUpper(state), "forged" + state[6:], "\x00", state[1:]} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, st string) {
		_, ok := s.EndExternal(httptest.NewRecorder(), flowRequest(t, w, ""), "google", st)
		if ok != (st == state) {
			t.Fatalf("state %q: ok %v", st, ok)
		}
	})
}
