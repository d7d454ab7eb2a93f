// Package dropbox is a stand-in for Dropbox used by tests, on loopback. It
// follows Dropbox's HTTP documentation
// (https://www.dropbox.com/developers/documentation/http/documentation
// and the OAuth guide https://developers.dropbox.com/oauth-guide):
//
//   - GET /oauth2/authorize: the user approves at once (or, with Deny,
//     declines): 302 to redirect_uri with code and state (or
//     error=access_denied); PKCE S256 code_challenge required;
//   - POST /oauth2/token: grant_type authorization_code (code,
//     redirect_uri, code_verifier, client_id, client_secret) and
//     refresh_token; errors are 400 {"error": "invalid_grant", …};
//     access tokens last ExpiresIn, refresh tokens do not rotate;
//   - POST /2/files/upload and /2/files/upload_session/{start,append_v2,finish}:
//     arguments in the Dropbox-API-Arg header (ASCII only, else 400),
//     bytes as application/octet-stream; mode "add" on an existing path is
//     409 {"error_summary": "path/conflict/file/.."}; a wrong offset is
//     409 incorrect_offset;
//   - POST /2/users/get_current_account, /2/auth/token/revoke;
//   - 401 {"error_summary": "expired_access_token/.."} for an expired
//     token, invalid_access_token for an unknown or revoked one;
//   - 429 with Retry-After and {"error_summary": "too_many_requests/.."}.
package dropbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Server is a running stand-in.
type Server struct {
	*httptest.Server
	// ClientID, ClientSecret are the one registered app.
	ClientID, ClientSecret string
	// ExpiresIn is the access tokens' lifetime.
	ExpiresIn time.Duration

	mu         sync.Mutex
	codes      map[string]grant
	access     map[string]time.Time // token → expiry
	refresh    map[string]bool
	files      map[string][]byte
	sessions   map[string][]byte
	deny       bool
	throttle   int
	refreshes  int
	revoked    int
	calls      map[string]int
	badRefresh bool
}

type grant struct{ challenge, redirect string }

// New starts a stand-in; Close it at the end.
func New() *Server {
	s := &Server{ClientID: "standin-app", ClientSecret: "standin-secret", ExpiresIn: 4 * time.Hour,
		codes: map[string]grant{}, access: map[string]time.Time{}, refresh: map[string]bool{}, files: map[string][]byte{},
		sessions: map[string][]byte{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Deny makes the user decline the next authorizations.
func (s *Server) Deny(v bool) { s.mu.Lock(); s.deny = v; s.mu.Unlock() }

// Throttle makes the next n API calls answer 429 (Retry-After: 1).
func (s *Server) Throttle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

// RejectRefresh makes refresh_token grants answer 400 invalid_grant.
func (s *Server) RejectRefresh(v bool) { s.mu.Lock(); s.badRefresh = v; s.mu.Unlock() }

// ExpireAll makes every access token expired (the next call is a 401).
func (s *Server) ExpireAll() {
	s.mu.Lock()
	for t := range s.access {
		s.access[t] = time.Now().Add(-time.Second)
	}
	s.mu.Unlock()
}

// File returns the bytes at path and whether it exists.
func (s *Server) File(path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[strings.ToLower(path)]
	return b, ok
}

// Files lists the stored paths (lower case, as Dropbox compares).
func (s *Server) Files() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.files {
		out = append(out, p)
	}
	return out
}

// Refreshes counts refresh_token grants; Revoked counts revocations;
// Calls counts requests per path.
func (s *Server) Refreshes() int { s.mu.Lock(); defer s.mu.Unlock(); return s.refreshes }

// Revoked counts /2/auth/token/revoke calls that revoked a token.
func (s *Server) Revoked() int { s.mu.Lock(); defer s.mu.Unlock(); return s.revoked }

// Calls counts the requests to path.
func (s *Server) Calls(path string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls[path] }

func random() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, summary, tag string) {
	writeJSON(w, status, map[string]any{"error_summary": summary, "error": map[string]any{".tag": tag}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[r.URL.Path]++
	switch r.URL.Path {
	case "/oauth2/authorize":
		s.authorize(w, r)
		return
	case "/oauth2/token":
		s.token(w, r)
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/2/") {
		http.Error(w, "Unknown API function", http.StatusNotFound)
		return
	}
	if s.throttle > 0 {
		s.throttle--
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error_summary": "too_many_requests/..",
			"error": map[string]any{"reason": map[string]any{".tag": "too_many_requests"}, "retry_after": 1}})
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, known := s.access[tok]
	switch {
	case !ok || !known:
		apiErr(w, http.StatusUnauthorized, "invalid_access_token/..", "invalid_access_token")
		return
	case time.Now().After(exp):
		apiErr(w, http.StatusUnauthorized, "expired_access_token/..", "expired_access_token")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var arg map[string]any
	if strings.HasPrefix(r.URL.Path, "/2/files/upload") {
		if r.Header.Get("Content-Type") != "application/octet-stream" {
			http.Error(w, "Error in call to API function: Bad HTTP \"Content-Type\" header", http.StatusBadRequest)
			return
		}
		h := r.Header.Get("Dropbox-API-Arg")
		for i := 0; i < len(h); i++ {
			if h[i] > 0x7e {
				http.Error(w, "Error in call to API function: Dropbox-API-Arg header must be HTTP-header-safe JSON (escape non-ASCII)", http.StatusBadRequest)
				return
			}
		}
		if err := json.Unmarshal([]byte(h), &arg); err != nil {
			http.Error(w, "Error in call to API function: could not decode Dropbox-API-Arg", http.StatusBadRequest)
			return
		}
	}
	switch r.URL.Path {
	case "/2/users/get_current_account":
		writeJSON(w, 200, map[string]any{"account_id": "dbid:standin", "email": "client@example.fr"})
	case "/2/auth/token/revoke":
		delete(s.access, tok)
		s.revoked++
		writeJSON(w, 200, nil)
	case "/2/files/upload":
		s.commit(w, arg, body)
	case "/2/files/upload_session/start":
		id := random()
		s.sessions[id] = body
		writeJSON(w, 200, map[string]any{"session_id": id})
	case "/2/files/upload_session/append_v2", "/2/files/upload_session/finish":
		cur, _ := arg["cursor"].(map[string]any)
		id, _ := cur["session_id"].(string)
		off, _ := cur["offset"].(float64)
		data, ok := s.sessions[id]
		if !ok {
			apiErr(w, 409, "lookup_failed/not_found/..", "lookup_failed")
			return
		}
		if int(off) != len(data) {
			writeJSON(w, 409, map[string]any{"error_summary": "lookup_failed/incorrect_offset/..",
				"error": map[string]any{".tag": "lookup_failed", "lookup_failed": map[string]any{".tag": "incorrect_offset", "correct_offset": len(data)}}})
			return
		}
		s.sessions[id] = append(data, body...)
		if r.URL.Path == "/2/files/upload_session/finish" {
			c, _ := arg["commit"].(map[string]any)
			if s.commit(w, c, s.sessions[id]) {
				delete(s.sessions, id)
			}
			return
		}
		writeJSON(w, 200, nil)
	default:
		http.Error(w, "Unknown API function", http.StatusNotFound)
	}
}

// commit stores a file as /2/files/upload's CommitInfo says.
func (s *Server) commit(w http.ResponseWriter, arg map[string]any, data []byte) bool {
	p, _ := arg["path"].(string)
	mode, _ := arg["mode"].(string)
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		apiErr(w, 409, "path/malformed_path/..", "path")
		return false
	}
	key := strings.ToLower(p)
	if _, exists := s.files[key]; exists && mode != "overwrite" {
		writeJSON(w, 409, map[string]any{"error_summary": "path/conflict/file/..",
			"error": map[string]any{".tag": "path", "reason": map[string]any{".tag": "conflict", "conflict": map[string]any{".tag": "file"}}}})
		return false
	}
	s.files[key] = data
	name := p[strings.LastIndex(p, "/")+1:]
	writeJSON(w, 200, map[string]any{"name": name, "path_display": p, "path_lower": key, "id": "id:" + random(), "size": len(data)})
	return true
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != s.ClientID || err != nil || q.Get("response_type") != "code" {
		http.Error(w, "invalid client_id or redirect_uri", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	if s.deny {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user chose not to give your app access to their Dropbox account.")
	} else {
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "code_challenge required", http.StatusBadRequest)
			return
		}
		code := random()
		s.codes[code] = grant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		writeJSON(w, 400, map[string]any{"error": "invalid_client", "error_description": "Invalid client_id or client_secret"})
		return
	}
	issue := func(withRefresh bool) {
		at := "sl." + random()
		s.access[at] = time.Now().Add(s.ExpiresIn)
		out := map[string]any{"access_token": at, "token_type": "bearer", "expires_in": int(s.ExpiresIn / time.Second)}
		if withRefresh {
			rt := random()
			s.refresh[rt] = true
			out["refresh_token"], out["account_id"], out["uid"] = rt, "dbid:standin", "12345"
		}
		writeJSON(w, 200, out)
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		g, ok := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code"))
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if !ok || g.redirect != f.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "code doesn't exist or has expired"})
			return
		}
		issue(true)
	case "refresh_token":
		s.refreshes++
		if s.badRefresh || !s.refresh[f.Get("refresh_token")] {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "refresh token is invalid or revoked"})
			return
		}
		issue(false)
	default:
		writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
	}
}
