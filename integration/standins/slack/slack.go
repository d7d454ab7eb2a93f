// Package slack is a stand-in for Slack used by tests, on loopback. It
// follows Slack's public documentation:
//
//   - incoming webhooks (https://api.slack.com/messaging/webhooks,
//     "Handling errors"): POST /services/T…/B…/X… answers 200 "ok", or a
//     4xx with a plain-text code: 400 invalid_payload (not JSON), 400
//     no_text (neither text nor blocks), 404 no_service (unknown webhook);
//   - the Web API (https://api.slack.com/web, "Evaluating responses"):
//     POST /api/<method> answers HTTP 200 with {"ok": true, …} or
//     {"ok": false, "error": "…"} (not_authed, invalid_auth,
//     channel_not_found, no_text); chat.postMessage and auth.test are
//     implemented;
//   - rate limits (https://api.slack.com/apis/rate-limits): 429 with a
//     Retry-After header in seconds.
//
// Knobs let a test make the next requests answer 429 or 500, or hang.
package slack

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Server is a running stand-in.
type Server struct {
	*httptest.Server
	// Token is the bot token chat.postMessage accepts; Channel the one
	// channel that exists.
	Token, Channel string
	// WebhookPath is the path of the one incoming webhook.
	WebhookPath string

	mu        sync.Mutex
	messages  []map[string]any
	throttle  int
	retry     string
	failures  int
	hang      bool
	hangStart chan struct{}
	release   chan struct{}
	released  sync.Once
}

// New starts a stand-in; Close it at the end.
func New() *Server {
	s := &Server{Token: "xoxb-standin-token", Channel: "C0CHANTIER", WebhookPath: "/services/T000/B000/XXXXSTANDIN",
		hangStart: make(chan struct{}, 100), release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// WebhookURL is the incoming webhook's URL.
func (s *Server) WebhookURL() string { return s.URL + s.WebhookPath }

// APIURL is the Web API base.
func (s *Server) APIURL() string { return s.URL + "/api" }

// Throttle makes the next n posts answer 429 with Retry-After: retry.
func (s *Server) Throttle(n int, retry string) {
	s.mu.Lock()
	s.throttle, s.retry = n, retry
	s.mu.Unlock()
}

// Fail makes the next n posts answer 500.
func (s *Server) Fail(n int) {
	s.mu.Lock()
	s.failures = n
	s.mu.Unlock()
}

// Hang makes every request wait until its client gives up.
func (s *Server) Hang(on bool) {
	s.mu.Lock()
	s.hang = on
	s.mu.Unlock()
}

// Release ends every hanging request (before Close).
func (s *Server) Release() { s.released.Do(func() { close(s.release) }) }

// Hanging receives one value per request that started hanging.
func (s *Server) Hanging() <-chan struct{} { return s.hangStart }

// Messages returns the messages posted so far.
func (s *Server) Messages() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.messages...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang {
		select {
		case s.hangStart <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case strings.HasPrefix(r.URL.Path, "/services/"):
		s.webhook(w, r, body)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		s.api(w, r, strings.TrimPrefix(r.URL.Path, "/api/"), body)
	default:
		http.NotFound(w, r)
	}
}

// injected answers a 429 or 500 when a knob asks for it.
func (s *Server) injected(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle > 0 {
		s.throttle--
		w.Header().Set("Retry-After", s.retry)
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	if s.failures > 0 {
		s.failures--
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}
	return false
}

func plain(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, s)
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost || r.URL.Path != s.WebhookPath {
		plain(w, http.StatusNotFound, "no_service")
		return
	}
	if s.injected(w) {
		return
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		plain(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	if !hasContent(m) {
		plain(w, http.StatusBadRequest, "no_text")
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	plain(w, http.StatusOK, "ok")
}

func hasContent(m map[string]any) bool {
	t, _ := m["text"].(string)
	b, _ := m["blocks"].([]any)
	return t != "" || len(b) > 0
}

func (s *Server) api(w http.ResponseWriter, r *http.Request, method string, body []byte) {
	answer := func(v map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	if s.injected(w) {
		return
	}
	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		answer(map[string]any{"ok": false, "error": "not_authed"})
		return
	case auth != "Bearer "+s.Token:
		answer(map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	switch method {
	case "auth.test":
		answer(map[string]any{"ok": true, "team": "Stand-in", "user": "hubchantier"})
	case "chat.postMessage":
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			answer(map[string]any{"ok": false, "error": "invalid_json"})
			return
		}
		if m["channel"] != s.Channel {
			answer(map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		if !hasContent(m) {
			answer(map[string]any{"ok": false, "error": "no_text"})
			return
		}
		s.mu.Lock()
		s.messages = append(s.messages, m)
		s.mu.Unlock()
		answer(map[string]any{"ok": true, "channel": s.Channel, "ts": "1700000000.000100"})
	default:
		answer(map[string]any{"ok": false, "error": "unknown_method"})
	}
}
