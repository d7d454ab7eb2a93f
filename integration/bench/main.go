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
//
// Each row also reports the CPU time its server process (the gateway, or
// the origin for the direct rows) used per request, from /proc: on a shared
// two-core machine it varies far less than req/s. Where taskset exists and
// there are at least two CPUs, every server is pinned to CPU 0 and the load
// generator to CPU 1 (-pin=false turns it off), so the gateway cannot borrow
// the load generator's core.
//
// The "origin" rows (-rows origin) put a fast static origin behind the
// gateway instead of the Hub Chantier upstream, so that the upstream's own
// cost does not hide the gateway's: see rows_origin.go.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
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
	// Baseline marks a row that the following rows of its Group (by Order)
	// are compared to; rows of groups without one use the first baseline.
	Baseline bool
	// Setup prepares the row on the shared environment.
	Setup func(env *Env) (url string, headers func() map[string]string, stop func(), err error)
}

var rows []Row

// prepared is a row set up and ready to load.
type prepared struct {
	row     Row
	url     string
	headers func() map[string]string
}

// register adds a row; rows_*.go files call it from init.
func register(r Row) { rows = append(rows, r) }

func main() {
	if len(os.Args) == 4 && os.Args[1] == serveStaticCmd {
		serveStatic(os.Args[2], os.Args[3])
		return
	}
	if len(os.Args) == 3 && os.Args[1] == serveRFCOriginCmd {
		serveRFCOrigin(os.Args[2])
		return
	}
	duration := flag.Duration("duration", 5*time.Second, "measurement time per row and round (at most 60s)")
	warmup := flag.Duration("warmup", time.Second, "warm-up time per row and round")
	conc := flag.Int("c", 16, "concurrent connections (at most 256)")
	rounds := flag.Int("rounds", 3, "rounds; rows are interleaved and each row's median round is reported (at most 10)")
	groups := flag.String("rows", "", "comma-separated row groups to run (default all); base and bare always run")
	openLoop := flag.Bool("open-loop", true, "after the closed-loop rounds, load each row of a group with a baseline at half its baseline's req/s, open loop, and report the latency the row adds")
	pprofDir := flag.String("pprof", "", "directory for a CPU profile of each gateway row, taken from Caddy's admin endpoint during the first round's measurement")
	pin := flag.Bool("pin", true, "pin servers to CPU 0 and the load generator to CPU 1 (where taskset exists and there are 2+ CPUs)")
	flag.Parse()
	if *duration > time.Minute || *conc > 256 || *conc < 1 || *rounds < 1 || *rounds > 10 {
		log.Fatal("duration ≤ 60s, 1 ≤ c ≤ 256, 1 ≤ rounds ≤ 10")
	}
	dir, err := os.MkdirTemp("", "hubgate-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	env, err := newEnv(dir, *pin && runtime.NumCPU() >= 2)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()

	selected := selectRows(*groups)
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

	pinned := env.pin && harness.Pin(os.Getpid(), "1")
	fmt.Printf("hubgate bench: %d connections, %s per row and round (+%s warm-up), %d interleaved rounds, median round per row; servers pinned to CPU 0, load to CPU 1: %v\n\n",
		*conc, *duration, *warmup, *rounds, pinned)
	all := make([][]harness.LoadResult, len(ps))
	cpus := make([][]time.Duration, len(ps))
	for round := 0; round < *rounds; round++ {
		for i, p := range ps {
			pid := env.pidFor(p.url)
			before, cpuErr := harness.ProcCPU(pid)
			var profiled chan struct{}
			if admin := env.adminFor(p.url); *pprofDir != "" && round == 0 && admin != "" {
				profiled = make(chan struct{})
				go func() {
					defer close(profiled)
					profile(admin, *warmup, *duration, filepath.Join(*pprofDir, slug(p.row.Name)+".pprof"))
				}()
			}
			res, err := harness.Load(p.url, p.headers, *conc, *warmup, *duration)
			if profiled != nil {
				<-profiled
			}
			if err != nil {
				log.Fatalf("%s: %v", p.row.Name, err)
			}
			after, err := harness.ProcCPU(pid)
			if cpuErr == nil && err == nil && res.All > 0 {
				cpus[i] = append(cpus[i], (after-before)/time.Duration(res.All))
			}
			all[i] = append(all[i], res)
		}
	}
	results := make([]harness.LoadResult, len(ps))
	cpu := make([]time.Duration, len(ps))
	base := make([]int, len(ps))
	for i := range ps {
		results[i] = harness.Median(all[i])
		cpu[i] = medianDuration(cpus[i])
	}
	// Each row is compared to the last baseline of its own group above it
	// (the group's first baseline for rows above it), or else to the first
	// baseline of the run (bare Caddy on the real upstream).
	first := -1
	firstOf, lastOf := map[string]int{}, map[string]int{}
	for i, p := range ps {
		if _, ok := firstOf[p.row.Group]; p.row.Baseline && !ok {
			firstOf[p.row.Group] = i
		}
		if p.row.Baseline && first < 0 {
			first = i
		}
	}
	for i, p := range ps {
		if p.row.Baseline {
			lastOf[p.row.Group] = i
		}
		j, ok := lastOf[p.row.Group]
		if !ok {
			j, ok = firstOf[p.row.Group]
		}
		if !ok {
			j = first
		}
		base[i] = j
	}
	fmt.Printf("%-56s %9s %9s %9s %6s %8s %8s %9s\n", "row", "req/s", "p50", "p99", "errors", "× base", "CPU µs", "Δ µs")
	for i, p := range ps {
		r := results[i]
		ratio, delta := "-", "-"
		if b := base[i]; b >= 0 {
			ratio = fmt.Sprintf("%.2fx", r.RPS/results[b].RPS)
			if cpu[i] > 0 && cpu[b] > 0 {
				delta = fmt.Sprintf("%+.0f", float64(cpu[i]-cpu[b])/float64(time.Microsecond))
			}
		}
		name := p.row.Name
		if p.row.Baseline {
			name += " (base)"
		}
		fmt.Printf("%-56s %9.0f %9s %9s %6d %8s %8.0f %9s\n", name, r.RPS, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors,
			ratio, float64(cpu[i])/float64(time.Microsecond), delta)
	}
	if *openLoop {
		openLoopTable(ps, results, base, *duration)
	}
	fmt.Println("\n× base: req/s over the row's baseline (the last \"(base)\" row of its group above it, else its group's first, else the run's first); CPU µs: the server's user+system CPU per request (gateway rows: the gateway process alone); Δ µs: over the baseline.")
}

// openLoopTable loads every row whose group has its own baseline at half
// that baseline's closed-loop req/s, at a constant rate, and prints the
// latency percentiles and what each row adds to its baseline's p99.
func openLoopTable(ps []prepared, results []harness.LoadResult, base []int, d time.Duration) {
	fmt.Printf("\nopen loop, constant rate at half of the group baseline's req/s, %s per row:\n", d)
	fmt.Printf("%-56s %9s %9s %9s %6s %12s\n", "row", "rate/s", "p50", "p99", "errors", "Δ p99")
	open := make([]harness.LoadResult, len(ps))
	for i, p := range ps {
		b := base[i]
		if b < 0 || ps[b].row.Group != p.row.Group {
			continue
		}
		rate := results[b].RPS / 2
		res, err := harness.LoadRate(p.url, p.headers, rate, d)
		if err != nil {
			fmt.Printf("%-56s %9.0f error: %v\n", p.row.Name, rate, err)
			continue
		}
		open[i] = res
		delta := "-"
		if ob := open[b]; ob.P99 > 0 {
			delta = (res.P99 - ob.P99).Round(time.Microsecond).String()
		}
		fmt.Printf("%-56s %9.0f %9s %9s %6d %12s\n", p.row.Name, rate, res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.Errors, delta)
	}
}

// profile saves a CPU profile of the gateway whose admin endpoint is at
// admin, taken over the measured part of a load run that starts now.
func profile(admin string, warmup, d time.Duration, path string) {
	time.Sleep(warmup)
	secs := max(1, int(d/time.Second))
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs))
	if err != nil {
		log.Printf("pprof %s: %v", path, err)
		return
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		log.Printf("pprof %s: %v", path, err)
		return
	}
	f, err := os.Create(path)
	if err != nil {
		log.Printf("pprof %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		log.Printf("pprof %s: %v", path, err)
	}
}

// slug makes a file name of a row name.
func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// medianDuration returns the median of ds (0 when empty).
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
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
