package auditchain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

var secret = []byte("test-gateway-secret-of-32-bytes!")

// TestBodyHashIsKeyed: a recorded body hash is not SHA-256(body) (which a
// guess of a login body reverses, issue 10), depends on the secret, and
// names its key.
func TestBodyHashIsKeyed(t *testing.T) {
	body := []byte(`{"email":"a@example.com","password":"hunter2"}`)
	plain := sha256.Sum256(body)
	got := BodyHash(secret, body)
	if strings.Contains(got, hex.EncodeToString(plain[:])) {
		t.Fatalf("body hash %s is the plain SHA-256", got)
	}
	if !strings.HasPrefix(got, BodyHashPrefix+KeyID(BodyKey(secret))+":") || len(got) != len(BodyHashPrefix)+8+1+64 {
		t.Fatalf("body hash %q: wrong form", got)
	}
	if other := BodyHash([]byte("another-secret-of-32-bytes-long!"), body); other == got {
		t.Fatal("the hash does not depend on the secret")
	}
	if BodyHash(secret, body) != got {
		t.Fatal("not deterministic")
	}
}

func TestSealAccount(t *testing.T) {
	for _, id := range []string{"", "7", "9223372036854775807"} {
		v := SealAccount(secret, id)
		if v == SealAccount(secret, id) {
			t.Fatalf("sealing %q twice gave one value: not randomized", id)
		}
		if len(v) != len(SealAccount(secret, "")) {
			t.Fatalf("sealed %q: length depends on the id", id)
		}
		if got, err := OpenAccount(secret, v); err != nil || got != id {
			t.Fatalf("open(seal(%q)) = %q, %v", id, got, err)
		}
		if _, err := OpenAccount([]byte("another-secret-of-32-bytes-long!"), v); err == nil {
			t.Fatal("opened with another secret")
		}
	}
	for _, bad := range []string{"", "x", "!!!", SealAccount(secret, "7")[:20]} {
		if _, err := OpenAccount(secret, bad); err == nil {
			t.Fatalf("OpenAccount(%q) accepted", bad)
		}
	}
}

func TestCheckpointSignature(t *testing.T) {
	k := CheckpointKey(secret)
	cp := Checkpoint{GatewayID: "gw", Seq: 21, Hash: strings.Repeat("a", 64), Timestamp: time.Now()}
	cp.Sign(k)
	if !cp.Valid(k) {
		t.Fatal("a signed checkpoint does not verify")
	}
	for name, mut := range map[string]func(c *Checkpoint){
		"seq":  func(c *Checkpoint) { c.Seq = 20 },
		"hash": func(c *Checkpoint) { c.Hash = strings.Repeat("b", 64) },
		"gw":   func(c *Checkpoint) { c.GatewayID = "gx" },
		"ts":   func(c *Checkpoint) { c.Timestamp = c.Timestamp.Add(time.Second) },
	} {
		c := cp
		mut(&c)
		if c.Valid(k) {
			t.Errorf("checkpoint with changed %s still verifies", name)
		}
	}
	if cp.Valid(CheckpointKey([]byte("another-secret-of-32-bytes-long!"))) {
		t.Fatal("verifies under another key")
	}
}

// TestCanonicalKeepsOldHashes: records without the members added in issue
// 10 hash as before, so chains already stored stay valid.
func TestCanonicalKeepsOldHashes(t *testing.T) {
	r := Record{EventID: "e", GatewayID: "gw", Seq: 1, Timestamp: time.Unix(0, 0)}
	c, _ := r.Canonical()
	if strings.Contains(string(c), "client_request_id") || strings.Contains(string(c), "attempted_user_id") {
		t.Fatalf("canonical form changed for old records: %s", c)
	}
	r.ClientRequestID, r.AttemptedUserID = "x", "7"
	c2, _ := r.Canonical()
	if string(c2) == string(c) {
		t.Fatal("new members are not covered by the hash")
	}
}
