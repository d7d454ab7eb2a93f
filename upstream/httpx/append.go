package httpx

import (
	"math"
	"net/http"
	"strconv"

	"github.com/hubchantier/hubgate/internal/jsonenc"
)

// This file appends JSON values to a byte slice exactly as encoding/json
// encodes them (HTML-safe strings, the same float format), without
// reflection or a compaction pass: hot responses (lists) are built in one
// buffer. TestAppendMatchesEncodingJSON holds them to encoding/json's bytes.

// AppendString appends s as a JSON string, escaped as json.Marshal does
// (internal/jsonenc, shared with the gateway's hand-written encoders).
func AppendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s) }

// AppendFloat appends f as json.Marshal encodes a float64 (ES6 number
// formatting). NaN and infinities, which JSON cannot hold, become null.
func AppendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return jsonenc.AppendFloat(b, f)
}

// AppendValue appends a scalar (string, int64, int, float64, bool or nil)
// as JSON; ok is false for any other type, left to the caller.
func AppendValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return AppendString(b, x), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case float64:
		return AppendFloat(b, x), true
	case bool:
		return strconv.AppendBool(b, x), true
	}
	return b, false
}

// WriteRawJSON sends body, already encoded JSON, with the given status.
func WriteRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
