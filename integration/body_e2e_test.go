package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/problem"
)

// rawRequest sends raw bytes on a fresh TCP connection to the gateway and
// reads one response. Go's http.Client cannot send a malformed body, which
// is the point here.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw[:min(len(raw), 60)], err)
	}
	return resp
}

// checkProblem asserts a problem+json answer of the given status and type.
func checkProblem(t *testing.T, resp *http.Response, status int, slug string) {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type %q, want %s: %s", ct, problem.ContentType, body)
	}
	var p struct{ Type string }
	if err := json.Unmarshal(body, &p); err != nil || p.Type != problem.TypePrefix+slug {
		t.Fatalf("problem type %q, want %s%s (%v): %s", p.Type, problem.TypePrefix, slug, err, body)
	}
}

// TestMalformedBodiesDoNotTakeTheUpstreamOut replays the finding: POSTs
// with a broken chunked body used to be 502s that the passive health check
// counted against the upstream, so five of them took every route out for
// fail_duration. A client's broken body is the client's 400 and never
// counts against the upstream.
func TestMalformedBodiesDoNotTakeTheUpstreamOut(t *testing.T) {
	s := newStack(t, backends[0])
	s.createUser("mal@example.com", "conducteur")
	jwt := s.login("mal@example.com", "correct-horse-battery")
	_, key := s.createKey(jwt, map[string]any{"name": "m", "scopes": []string{"read", "write"}})
	addr := strings.TrimPrefix(s.gw.URL, "http://")

	malformed := []struct{ path, auth, body string }{
		// Anonymous, on a public route that reads its body.
		// Bare LF line ends (the finding's body).
		{"/api/auth/login", "", "2\nab\n0\n\n"},
		// Authenticated, on a write.
		{"/api/v1/chantiers", "Authorization: Bearer " + key + "\r\n", "2\nab\n0\n\n"},
		// A chunk size that is not hex.
		{"/api/v1/chantiers", "Authorization: Bearer " + key + "\r\n", "zz\r\nab\r\n0\r\n\r\n"},
		// A chunk longer than announced.
		{"/api/auth/login", "", "2\r\nabcdef\r\n0\r\n\r\n"},
	}
	for i := 0; i < 50; i++ {
		m := malformed[i%len(malformed)]
		raw := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n%sTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n%s",
			m.path, m.auth, m.body)
		checkProblem(t, rawRequest(t, addr, raw), http.StatusBadRequest, "malformed-body")
	}
	// A body shorter than its Content-Length, then the client hangs up.
	for i := 0; i < 10; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /api/v1/chantiers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"nom\":", key)
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}

	// At once, not after fail_duration: the upstream was never counted down.
	if r := s.gwDo("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("GET /healthz after malformed bodies: %d %s", r.status, r.body)
	}
	if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(key)...); r.status != 200 {
		t.Fatalf("authenticated GET after malformed bodies: %d %s", r.status, r.body)
	}
	// A well-formed chunked body still goes through.
	raw := "POST /api/v1/chantiers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + key +
		"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		"1a\r\n{\"nom\":\"Chunked\",\"adresse\"\r\n" + "d\r\n:\"1 rue Haute\r\n" + "2\r\n\"}\r\n0\r\n\r\n"
	resp := rawRequest(t, addr, raw)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("well-formed chunked POST: %d %s", resp.StatusCode, body)
	}
}

// TestSlowBodiesTimeOut: a body trickled in slower than read_timeout gets a
// 408 problem instead of holding the connection for minutes.
func TestSlowBodiesTimeOut(t *testing.T) {
	s := newStack(t, backends[0], "HUB_BODY_READ_TIMEOUT=1s")
	addr := strings.TrimPrefix(s.gw.URL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{")
	done := make(chan *http.Response, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("no answer to a slow body: %v", err)
		}
		done <- resp
	}()
	// One byte a while, never the whole body: the gateway gives up first.
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case resp := <-done:
			if resp == nil {
				return
			}
			checkProblem(t, resp, http.StatusRequestTimeout, "body-timeout")
			return
		case <-tick.C:
			_, _ = io.WriteString(c, " ")
		case <-time.After(60 * time.Second):
			t.Fatal("the gateway kept reading a trickled body for a minute")
		}
	}
}

// TestOversizedBodies: a declared or streamed body over max_size is a 413
// problem before the upstream sees anything.
func TestOversizedBodies(t *testing.T) {
	s := newStack(t, backends[0])
	addr := strings.TrimPrefix(s.gw.URL, "http://")
	big := strings.Repeat("a", 2<<20)
	raw := "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " +
		fmt.Sprint(len(big)) + "\r\nConnection: close\r\n\r\n"
	checkProblem(t, rawRequest(t, addr, raw), http.StatusRequestEntityTooLarge, "body-too-large")
	raw = "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)
	checkProblem(t, rawRequest(t, addr, raw), http.StatusRequestEntityTooLarge, "body-too-large")
}
