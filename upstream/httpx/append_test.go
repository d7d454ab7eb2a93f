package httpx

import (
	"encoding/json"
	"math"
	"testing"
)

// TestAppendMatchesEncodingJSON holds the hand-written encoder to the
// bytes encoding/json produces, on the values that differ most easily.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, int64(0), int64(-42), int64(math.MaxInt64), int64(math.MinInt64), 7,
		"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>", "tab\tnl\ncr\rbs\bff\f",
		"\x00\x01\x1f\x7f", "é à ü 日本 🏗️", "line\u2028para\u2029end", "bad \xff\xfe utf8 \xc3", "\xed\xa0\x80",
		0.0, 1.0, -1.5, 1000.5, 1e15, 1e20, 1e21, 1.5e21, 1e-6, 1e-7, 1.23456789e-9, 123456789.123456789,
		math.MaxFloat64, math.SmallestNonzeroFloat64, -0.0000001, 0.1 + 0.2,
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := AppendValue(nil, v)
		if !ok || string(got) != string(want) {
			t.Errorf("AppendValue(%#v) = %s, want %s", v, got, want)
		}
	}
	if _, ok := AppendValue(nil, []int{1}); ok {
		t.Error("a slice is not a scalar")
	}
	for _, f := range []float64{math.NaN(), math.Inf(1)} {
		if got := AppendFloat(nil, f); string(got) != "null" {
			t.Errorf("AppendFloat(%v) = %s", f, got)
		}
	}
}
