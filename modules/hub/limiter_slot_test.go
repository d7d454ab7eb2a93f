package hub

import (
	"fmt"
	"testing"
)

// keySlot is Redis Cluster's slot of key: CRC16-CCITT (XModem) of its hash
// tag modulo 16384, as in the Redis Cluster specification. It is written
// here independently of hashTag: the first '{', the next '}', a non-empty
// part between them, else the whole key.
func keySlot(key string) int {
	s := key
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					s = key[i+1 : j]
				}
				break
			}
		}
		break
	}
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestKeySlotKnownValues(t *testing.T) {
	// Values from CLUSTER KEYSLOT on Redis 7.
	for key, want := range map[string]int{"foo": 12182, "{user1000}.following": 3443, "123456789": 12739} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestGroupByHashTagWithPrefixes checks that the rate limiter's slot
// groups follow the keys Redis Cluster actually hashes, store prefix
// included: every group's keys share one slot (else its script fails with
// CROSSSLOT), whatever braces the prefix holds; with a brace-free prefix
// the windows of one partition stay in one group (one atomic script).
func TestGroupByHashTagWithPrefixes(t *testing.T) {
	ws := []Window{
		{Key: "rl:{k:abc}:default:3600"},
		{Key: "rl:{k:abc}:default-burst:60"},
		{Key: "rl:{ip:127.0.0.1}:login:60"},
		{Key: "rl:{u:42}:per-user:3600"},
		{Key: "rl:{k:abc}:search:60"},
	}
	for _, prefix := range []string{"hub:", "", "{}", "{}:", "gw{", "gw}", "}{", "{hub}:", "a{b}c:", "{", "x{}{y}"} {
		t.Run(fmt.Sprintf("%q", prefix), func(t *testing.T) {
			key := func(k string) string { return prefix + k }
			groups := groupByHashTag(ws, key)
			seen := map[int]bool{}
			for _, g := range groups {
				slot := keySlot(key(ws[g[0]].Key))
				for _, i := range g {
					if seen[i] {
						t.Fatalf("window %d in two groups: %v", i, groups)
					}
					seen[i] = true
					if s := keySlot(key(ws[i].Key)); s != slot {
						t.Fatalf("group %v mixes slots %d and %d (%q)", g, slot, s, key(ws[i].Key))
					}
				}
			}
			if len(seen) != len(ws) {
				t.Fatalf("groups %v miss windows", groups)
			}
			// Windows of one slot are decided together: as many groups
			// as distinct slots.
			slots := map[int]bool{}
			for _, w := range ws {
				slots[keySlot(key(w.Key))] = true
			}
			if len(groups) != len(slots) {
				t.Fatalf("%d groups for %d slots: %v", len(groups), len(slots), groups)
			}
		})
	}
}
