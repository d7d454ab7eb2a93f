package domain

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/hubchantier/hubgate/upstream/httpx"
)

// bufPool recycles the buffers responses are built in.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// writeList sends the list envelope {"data":[…],"pagination":…} built in
// one buffer: records append themselves (record.appendJSON), the
// pagination object goes through encoding/json. The bytes are those
// json.Marshal(page.List{…}) produced (TestListEncodingUnchanged).
func writeList(w http.ResponseWriter, recs []*record, pg any) {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 1<<20 {
			bufPool.Put(bp)
		}
	}()
	b := append((*bp)[:0], `{"data":[`...)
	var err error
	for i, rec := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = rec.appendJSON(b); err != nil {
			httpx.Internal(w, nil, err)
			return
		}
	}
	b = append(b, `],"pagination":`...)
	enc, err := json.Marshal(pg)
	if err != nil {
		httpx.Internal(w, nil, err)
		return
	}
	b = append(b, enc...)
	b = append(b, '}')
	*bp = b
	httpx.WriteRawJSON(w, http.StatusOK, b)
}

// writeRecord sends one row with its ETag.
func writeRecord(w http.ResponseWriter, status int, rec *record) {
	body, err := rec.appendJSON(make([]byte, 0, 512))
	if err != nil {
		httpx.Internal(w, nil, err)
		return
	}
	w.Header().Set("ETag", rec.etag())
	httpx.WriteRawJSON(w, status, body)
}
