// Command bench measures, in one run on this machine, the cost of hubgate
// against the same upstream reached directly and through bare Caddy
// reverse_proxy. It prints requests/s, p50 and p99 latencies and the ratio
// of each row to the bare reverse_proxy row.
//
//	make bench                          # every row
//	go run ./integration/bench -rows auth,ratelimit -duration 3s
//
// Rows live in rows_*.go files and register themselves (see Row). Load is
// loopback only, bounded in time and concurrency.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// Row is one line of the benchmark. Setup starts what the row needs (a
// gateway with its own Caddyfile, a slow upstream…) and returns the URL to
// load, the headers of each request and a stop function.
type Row struct {
	// Name is printed; Group selects rows with -rows.
	Name, Group string
	// Order sorts rows (direct 0, bare 10, then by issue).
	Order int
	// Setup prepares the row on the shared environment.
	Setup func(env *Env) (url string, headers func() map[string]string, stop func(), err error)
}

var rows []Row

// register adds a row; rows_*.go files call it from init.
func register(r Row) { rows = append(rows, r) }

func main() {
	duration := flag.Duration("duration", 5*time.Second, "measurement time per row and round (at most 60s)")
	warmup := flag.Duration("warmup", time.Second, "warm-up time per row and round")
	conc := flag.Int("c", 16, "concurrent connections (at most 256)")
	rounds := flag.Int("rounds", 3, "rounds; rows are interleaved and each row's median round is reported (at most 10)")
	groups := flag.String("rows", "", "comma-separated row groups to run (default all); base and bare always run")
	flag.Parse()
	if *duration > time.Minute || *conc > 256 || *conc < 1 || *rounds < 1 || *rounds > 10 {
		log.Fatal("duration ≤ 60s, 1 ≤ c ≤ 256, 1 ≤ rounds ≤ 10")
	}
	dir, err := os.MkdirTemp("", "hubgate-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	env, err := newEnv(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()

	selected := selectRows(*groups)
	type prepared struct {
		row     Row
		url     string
		headers func() map[string]string
	}
	var ps []prepared
	for _, r := range selected {
		url, h, stop, err := r.Setup(env)
		if err != nil {
			log.Fatalf("%s: %v", r.Name, err)
		}
		if stop != nil {
			defer stop()
		}
		ps = append(ps, prepared{r, url, h})
	}

	fmt.Printf("hubgate bench: %d connections, %s per row and round (+%s warm-up), %d interleaved rounds, median round per row\n\n", *conc, *duration, *warmup, *rounds)
	all := make([][]harness.LoadResult, len(ps))
	for round := 0; round < *rounds; round++ {
		for i, p := range ps {
			res, err := harness.Load(p.url, p.headers, *conc, *warmup, *duration)
			if err != nil {
				log.Fatalf("%s: %v", p.row.Name, err)
			}
			all[i] = append(all[i], res)
		}
	}
	var bare harness.LoadResult
	results := make([]harness.LoadResult, len(ps))
	for i, p := range ps {
		results[i] = harness.Median(all[i])
		if p.row.Group == "bare" {
			bare = results[i]
		}
	}
	fmt.Printf("%-50s %9s %10s %10s %7s %9s %9s\n", "row", "req/s", "p50", "p99", "errors", "rps/bare", "p50/bare")
	for i, p := range ps {
		r := results[i]
		fmt.Printf("%-50s %9.0f %10s %10s %7d %8.2fx %8.2fx\n", p.row.Name, r.RPS, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors,
			r.RPS/bare.RPS, float64(r.P50)/float64(bare.P50))
	}
}

func selectRows(groups string) []Row {
	want := map[string]bool{"base": true, "bare": true}
	for _, g := range strings.Split(groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			want[g] = true
		}
	}
	var out []Row
	for _, r := range rows {
		if groups == "" || want[r.Group] {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out
}
