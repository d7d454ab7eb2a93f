// Command bench measures, in one run on this machine, the cost of hubgate
// against the same upstream reached directly and through bare Caddy
// reverse_proxy. It prints requests/s, p50 and p99 latencies and ratios.
//
//	make bench                      # or: go run ./integration/bench -duration 5s
//
// Load is loopback only, bounded in time and concurrency.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
	"github.com/hubchantier/hubgate/internal/assertion"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "measurement time per row (at most 60s)")
	warmup := flag.Duration("warmup", time.Second, "warm-up time per row")
	conc := flag.Int("c", 16, "concurrent connections (at most 256)")
	rounds := flag.Int("rounds", 3, "rounds; rows are interleaved and each row's median round is reported (at most 10)")
	path := flag.String("path", "/api/v1/chantiers?limit=20", "request path")
	flag.Parse()
	if *duration > time.Minute || *conc > 256 || *conc < 1 || *rounds < 1 || *rounds > 10 {
		log.Fatal("duration ≤ 60s, 1 ≤ c ≤ 256, 1 ≤ rounds ≤ 10")
	}
	dir, err := os.MkdirTemp("", "hubgate-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	secret := harness.NewSecret()
	up, err := harness.StartUpstream(harness.UpstreamOptions{Secret: secret, Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer up.Stop()
	mustCLI(up.Env, "user", "create", "--email", "bench@example.com", "--password", "bench-password", "--role", "admin", "--nom", "Bench")
	mustCLI(up.Env, "seed")
	key := strings.TrimSpace(mustCLI(up.Env, "apikey", "demo", "--user", "bench@example.com"))

	bare := filepath.Join(dir, "bare.Caddyfile")
	if err := os.WriteFile(bare, []byte(bareCaddyfile), 0o600); err != nil {
		log.Fatal(err)
	}
	bareGW, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: secret, Dir: dir, Caddyfile: bare})
	if err != nil {
		log.Fatal(err)
	}
	defer bareGW.Stop()
	hubGW, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: secret, Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer hubGW.Stop()

	// Direct and bare-Caddy requests carry an assertion signed here, as the
	// gateway would; hubgate requests carry the API key instead.
	signed := func() map[string]string {
		tok, err := assertion.Sign([]byte(secret), assertion.Claims{Subject: "1", Role: "admin", Method: "api_key", Scopes: []string{"read"}, HTTPMethod: "GET"}, time.Now())
		if err != nil {
			log.Fatal(err)
		}
		return map[string]string{assertion.Header: tok}
	}
	rows := []struct {
		name    string
		url     string
		headers func() map[string]string
	}{
		{"direct upstream", "http://" + up.Addr + *path, signed},
		{"bare caddy reverse_proxy", bareGW.URL + *path, signed},
		{"hubgate hub_auth (warm key)", hubGW.URL + *path, func() map[string]string { return map[string]string{"Authorization": "Bearer " + key} }},
	}
	fmt.Printf("hubgate bench: GET %s, %d connections, %s per row and round (+%s warm-up), %d interleaved rounds, median round per row\n\n", *path, *conc, *duration, *warmup, *rounds)
	all := make([][]harness.LoadResult, len(rows))
	for round := 0; round < *rounds; round++ {
		for i, row := range rows {
			res, err := harness.Load(row.url, row.headers, *conc, *warmup, *duration)
			if err != nil {
				log.Fatalf("%s: %v", row.name, err)
			}
			all[i] = append(all[i], res)
		}
	}
	results := make([]harness.LoadResult, len(rows))
	for i := range rows {
		results[i] = harness.Median(all[i])
	}
	fmt.Printf("%-30s %10s %9s %9s %8s %12s\n", "row", "req/s", "p50", "p99", "errors", "vs bare")
	base := results[1]
	for i, row := range rows {
		r := results[i]
		fmt.Printf("%-30s %10.0f %9s %9s %8d %11.2fx\n", row.name, r.RPS, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors, r.RPS/base.RPS)
	}
	fmt.Printf("\nratios: hubgate/bare throughput %.2f, p50 %.2fx, p99 %.2fx; bare/direct throughput %.2f\n",
		results[2].RPS/base.RPS, float64(results[2].P50)/float64(base.P50), float64(results[2].P99)/float64(base.P99), base.RPS/results[0].RPS)
}

func mustCLI(env []string, args ...string) string {
	out, err := harness.RunCLI(env, args...)
	if err != nil {
		log.Fatal(err)
	}
	return out
}

// bareCaddyfile is plain Caddy reverse_proxy to the same upstream: the
// baseline every hubgate policy is measured against.
const bareCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
}
http://{$HUB_LISTEN} {
	reverse_proxy {$HUB_UPSTREAM}
}
`
