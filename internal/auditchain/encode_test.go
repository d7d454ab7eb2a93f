package auditchain

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// reference seals and encodes r the way the journal did before
// AppendSealed: Seal (Canonical + SHA-256), then json.Marshal.
func reference(t testing.TB, r Record, prev string) (Record, []byte, error) {
	t.Helper()
	if err := r.Seal(prev); err != nil {
		return r, nil, err
	}
	b, err := json.Marshal(&r)
	return r, b, err
}

// checkSame fails unless AppendSealed gives json.Marshal's bytes and
// Seal's hash for r, after a prefix already in the buffer.
func checkSame(t testing.TB, r Record, prev string) {
	t.Helper()
	want, wantJSON, werr := reference(t, r, prev)
	got := r
	out, gerr := got.AppendSealed([]byte("prefix"), prev)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("errors differ: reference %v, AppendSealed %v (record %+v)", werr, gerr, r)
	}
	if werr != nil {
		return
	}
	if !bytes.HasPrefix(out, []byte("prefix")) {
		t.Fatalf("the buffer's prefix was overwritten: %q", out)
	}
	if got.Hash != want.Hash || got.PrevHash != want.PrevHash {
		t.Fatalf("hash %s prev %q, want %s prev %q\ncanonical: %s", got.Hash, got.PrevHash, want.Hash, want.PrevHash, mustCanonical(t, &want))
	}
	if !bytes.Equal(out[len("prefix"):], wantJSON) {
		t.Fatalf("JSON differs:\n got %s\nwant %s", out[len("prefix"):], wantJSON)
	}
	if !got.Check() {
		t.Fatal("the record AppendSealed sealed does not Check")
	}
}

func mustCanonical(t testing.TB, r *Record) []byte {
	c, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAppendSealedMatchesSealAndMarshal(t *testing.T) {
	base := sample(3)
	base.Normalize()
	cases := map[string]func(r *Record){
		"sample":              func(r *Record) {},
		"no changes":          func(r *Record) { r.Changes = nil },
		"null changes":        func(r *Record) { r.Changes = json.RawMessage(`null`) },
		"spaced changes":      func(r *Record) { r.Changes = json.RawMessage(" {\"a\" : \"<b>&\u2028\" }\n") },
		"invalid changes":     func(r *Record) { r.Changes = json.RawMessage(`{"a":`) },
		"client request id":   func(r *Record) { r.ClientRequestID = "abc<&>" },
		"attempted user":      func(r *Record) { r.AttemptedUserID = "12" },
		"escapes":             func(r *Record) { r.UserAgent = "a\"b\\c\n\r\t\b\f\x00\x1f\x7f<>&\u2028\u2029é\xff\xfe😀" },
		"IPv6":                func(r *Record) { r.IPAddress = "2001:db8:1:2::7" },
		"IPv4-mapped":         func(r *Record) { r.IPAddress = "::ffff:203.0.113.9" },
		"zoned":               func(r *Record) { r.IPAddress = "fe80::1%eth0" },
		"already a prefix":    func(r *Record) { r.IPAddress = "203.0.113.0/24" },
		"garbage IP":          func(r *Record) { r.IPAddress = "not-an-ip" },
		"no IP":               func(r *Record) { r.IPAddress = "" },
		"tiny latency":        func(r *Record) { r.LatencyMS = 1e-7 },
		"huge latency":        func(r *Record) { r.LatencyMS = 1e22 },
		"zero latency":        func(r *Record) { r.LatencyMS = 0 },
		"negative":            func(r *Record) { r.LatencyMS = -0.5; r.Seq = -1; r.StatusCode = -3 },
		"zero time":           func(r *Record) { r.Timestamp = time.Time{} },
		"whole second":        func(r *Record) { r.Timestamp = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		"empty everything":    func(r *Record) { *r = Record{} },
		"long path":           func(r *Record) { r.Path = string(bytes.Repeat([]byte("/x"), 600)) },
		"first of the chain":  func(r *Record) {},
		"year beyond 9999":    func(r *Record) { r.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"prev with specials!": func(r *Record) {},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			r := base
			mutate(&r)
			prev := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
			switch name {
			case "first of the chain":
				prev = ""
			case "prev with specials!":
				prev = "a<b\"c"
			}
			checkSame(t, r, prev)
		})
	}
}

// TestAppendSealedRefusesLocalTime: a record that was not normalized
// would be hashed in UTC but written with its offset; it is refused.
func TestAppendSealedRefusesLocalTime(t *testing.T) {
	r := sample(1)
	r.Timestamp = r.Timestamp.In(time.FixedZone("X", 3600))
	if _, err := r.AppendSealed(nil, ""); err == nil {
		t.Fatal("a non-UTC timestamp was accepted")
	}
}

func FuzzAppendSealed(f *testing.F) {
	f.Add("req-1", "curl/8", "/api/v1/chantiers/42", "203.0.113.77", `{"after":{"nom":"B"}}`, "prev", 1.25, int64(7), "", "")
	f.Add("a\x00<", "\xff\u2028", "é", "2001:db8::1", `null`, "", 1e-9, int64(-1), "batch-1", `{"cost": 3}`)
	f.Add("", "", "", "::ffff:1.2.3.4", ` [1, "<"] `, "x", 3e21, int64(0), "\u2028", `null`)
	f.Fuzz(func(t *testing.T, rid, ua, path, ip, changes, prev string, lat float64, seq int64, batch, gql string) {
		r := sample(seq)
		r.RequestID, r.UserAgent, r.Path, r.IPAddress, r.LatencyMS, r.ClientRequestID = rid, ua, path, ip, lat, ua
		r.BatchRequestID = batch
		if changes != "" {
			r.Changes = json.RawMessage(changes)
		}
		if gql != "" && json.Valid([]byte(gql)) {
			r.GraphQL = json.RawMessage(gql)
		}
		r.Normalize()
		checkSame(t, r, prev)
	})
}

func BenchmarkSeal(b *testing.B) {
	r := sample(1)
	r.Normalize()
	b.Run("Seal+Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := r
			if err := c.Seal("prev"); err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(&c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendSealed", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			c := r
			var err error
			if buf, err = c.AppendSealed(buf[:0], "prev"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAppendSealedCoversEveryMember: with every member of Record set,
// AppendSealed writes what Seal + json.Marshal write. A member added to
// Record (and to the canonical form) without its hand-written encoding
// fails here, not in production, where the upstream would refuse the
// records' hashes.
func TestAppendSealedCoversEveryMember(t *testing.T) {
	r := sample(3)
	v := reflect.ValueOf(&r).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch {
		case !f.CanSet() || v.Type().Field(i).Name == "PrevHash" || v.Type().Field(i).Name == "Hash":
		case f.Kind() == reflect.String && f.String() == "":
			f.SetString("set-" + v.Type().Field(i).Name)
		case f.Type() == reflect.TypeOf(json.RawMessage(nil)) && f.Len() == 0:
			f.SetBytes([]byte(`{"member":"` + v.Type().Field(i).Name + `"}`))
		}
	}
	r.IPAddress = "203.0.113.9"
	r.Normalize()
	checkSame(t, r, "prev")
}
