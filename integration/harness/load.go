package harness

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// LoadResult is the outcome of one load run.
type LoadResult struct {
	Requests int
	Errors   int // transport errors and non-2xx answers
	// All counts every request completed during the whole run, warm-up
	// included: the denominator of CPU time measured over the whole run.
	All      int
	RPS      float64
	P50, P99 time.Duration
}

// LoadMethod and LoadBody are pseudo-headers (HTTP/2 style names, never
// sent): a headers map holding them makes Load send that method with that
// body instead of a GET (the batch rows POST a batch).
const (
	LoadMethod = ":method"
	LoadBody   = ":body"
)

// newLoadRequest builds one request of a load run from its headers.
func newLoadRequest(url string, h map[string]string) *http.Request {
	method, body := http.MethodGet, h[LoadBody]
	if m := h[LoadMethod]; m != "" {
		method = m
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	for k, v := range h {
		if k != LoadMethod && k != LoadBody {
			req.Header.Set(k, v)
		}
	}
	return req
}

// Load sends GETs to url from conc workers for warmup+d and reports the
// measured part. headers is called once per worker (and again every 10 s,
// for short-lived signed headers).
func Load(url string, headers func() map[string]string, conc int, warmup, d time.Duration) (LoadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(d)
	var mu sync.Mutex
	var lat []time.Duration
	var errs, reqs, all int
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := headers()
			hAt := time.Now()
			local := make([]time.Duration, 0, 4096)
			localErr, localAll := 0, 0
			for {
				now := time.Now()
				if now.After(end) {
					break
				}
				if now.Sub(hAt) > 10*time.Second {
					h, hAt = headers(), now
				}
				req := newLoadRequest(url, h)
				t0 := time.Now()
				resp, err := client.Do(req)
				// A 304 is the answer a conditional GET wants (bench rows "etag").
				ok := err == nil && (resp.StatusCode < 300 || resp.StatusCode == http.StatusNotModified)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				el := time.Since(t0)
				localAll++
				if t0.Before(measureFrom) {
					continue
				}
				if !ok {
					localErr++
					mu.Lock()
					if firstErr == nil {
						if err != nil {
							firstErr = err
						} else {
							firstErr = fmt.Errorf("status %d", resp.StatusCode)
						}
					}
					mu.Unlock()
					continue
				}
				local = append(local, el)
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += localErr
			all += localAll
			reqs += len(local) + localErr
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lat) == 0 {
		return LoadResult{}, fmt.Errorf("no successful request: %v", firstErr)
	}
	if errs > reqs/100 {
		return LoadResult{}, fmt.Errorf("%d of %d requests failed, first: %v", errs, reqs, firstErr)
	}
	return summarize(lat, reqs, errs, all, d), nil
}

// summarize makes the result of a run from the latencies of its successful
// requests (sorted here) over a measured time d.
func summarize(lat []time.Duration, reqs, errs, all int, d time.Duration) LoadResult {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return LoadResult{
		Requests: reqs,
		Errors:   errs,
		All:      all,
		RPS:      float64(len(lat)) / d.Seconds(),
		P50:      lat[len(lat)/2],
		P99:      lat[len(lat)*99/100],
	}
}

// Median returns the result with the median throughput.
func Median(rs []LoadResult) LoadResult {
	s := append([]LoadResult(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].RPS < s[j].RPS })
	return s[len(s)/2]
}

// LoadRate sends GETs to url at a constant rate (requests per second) for
// d, open loop: each request starts at its scheduled time whether or not
// earlier ones have answered, and its latency counts from that scheduled
// time, so a stall shows in the percentiles instead of slowing the load
// down (no coordinated omission). At most maxInFlight requests are
// outstanding; a request that cannot start then counts as an error.
func LoadRate(url string, headers func() map[string]string, rate float64, d time.Duration) (LoadResult, error) {
	const maxInFlight = 512
	if rate <= 0 {
		return LoadResult{}, fmt.Errorf("rate must be positive")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: maxInFlight, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	h := headers()
	hAt := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		if time.Since(hAt) > 10*time.Second {
			h, hAt = headers(), time.Now()
		}
		select {
		case sem <- struct{}{}:
		default:
			failed[i] = true
			continue
		}
		wg.Add(1)
		go func(i int, at time.Time, h map[string]string) {
			defer func() { <-sem; wg.Done() }()
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			for k, v := range h {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat[i] = time.Since(at)
			failed[i] = err != nil || resp.StatusCode >= 300
		}(i, at, h)
	}
	wg.Wait()
	var ok []time.Duration
	errs := 0
	for i := range lat {
		if failed[i] {
			errs++
			continue
		}
		ok = append(ok, lat[i])
	}
	if len(ok) == 0 {
		return LoadResult{}, fmt.Errorf("no successful request")
	}
	return summarize(ok, n, errs, n, d), nil
}
