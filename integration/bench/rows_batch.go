package main

import (
	"encoding/json"
	"maps"

	"github.com/hubchantier/hubgate/integration/harness"
)

// batchOps is the number of operations of the batch row: the most a batch
// may hold. Compare the batch row's req/s × batchOps (operations per
// second) with the single-request row's req/s: both run every policy of
// the shipped chain per operation (docs/batch.md).
const batchOps = 100

// batchOpPath is the operation both rows run: one row (a cache hit after
// the first, as in the full-chain row).
const batchOpPath = "/chantiers/1"

func init() {
	// Every operation of a batch passes the whole chain, so the fair
	// comparison is the same GET sent alone through the same chain.
	register(Row{Name: "batch: GET /api/v1" + batchOpPath + " alone, full chain", Group: "batch", Order: 140, Baseline: true,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway("", "", "HUB_BATCH_RATE_LIMIT=1000000/second")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + "/api/v1" + batchOpPath, e.KeyHeaders, g.Stop, nil
		}})
	register(Row{Name: "batch: POST /api/v1/batch of 100 such GETs (req/s = batches/s; ×100 = operations/s)", Group: "batch", Order: 141,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway("", "", "HUB_BATCH_RATE_LIMIT=1000000/second")
			if err != nil {
				return "", nil, nil, err
			}
			ops := make([]map[string]string, batchOps)
			for i := range ops {
				ops[i] = map[string]string{"method": "GET", "path": batchOpPath}
			}
			body, err := json.Marshal(map[string]any{"operations": ops})
			if err != nil {
				return "", nil, nil, err
			}
			headers := func() map[string]string {
				h := maps.Clone(e.KeyHeaders())
				h[harness.LoadMethod] = "POST"
				h[harness.LoadBody] = string(body)
				h["Content-Type"] = "application/json"
				return h
			}
			return g.URL + "/api/v1/batch", headers, g.Stop, nil
		}})
}
