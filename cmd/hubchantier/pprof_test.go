package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPprofServerLoopbackOnly checks that HUB_PPROF_ADDR serves profiles
// on loopback and refuses any other address.
func TestPprofServerLoopbackOnly(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		if _, _, err := pprofServer(addr); err == nil {
			t.Errorf("pprofServer(%q) accepted a non-loopback address", addr)
		}
	}
	srv, ln, err := pprofServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof index: %d %.200s", resp.StatusCode, body)
	}
}
