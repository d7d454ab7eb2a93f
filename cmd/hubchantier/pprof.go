package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer returns a server of Go's runtime profiles (net/http/pprof,
// under /debug/pprof/) listening on addr, HUB_PPROF_ADDR. It is off unless
// that variable is set, and addr must be a loopback address (127.0.0.1:6060,
// [::1]:6060, localhost:6060): profiles expose the process's internals and
// a CPU profile costs CPU, so they are never served beside the API or
// beyond the host. Use: go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10
func pprofServer(addr string) (*http.Server, net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("HUB_PPROF_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, nil, fmt.Errorf("HUB_PPROF_ADDR %q: profiles are served on a loopback address only (e.g. 127.0.0.1:6060)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, nil, fmt.Errorf("HUB_PPROF_ADDR %q did not resolve to a loopback address", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, nil
}
