package hub

import (
	"net/netip"
	"testing"
)

func TestIdentityAllowsIP(t *testing.T) {
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			p, err := parsePrefix(s)
			if err != nil {
				t.Fatalf("parsePrefix(%q): %v", s, err)
			}
			out = append(out, p)
		}
		return out
	}
	tests := []struct {
		name  string
		allow []netip.Prefix
		ip    string
		want  bool
	}{
		{"no allowlist allows v4", nil, "203.0.113.9", true},
		{"no allowlist allows v6", nil, "2001:db8::1", true},
		{"single v4 address", prefixes("203.0.113.9"), "203.0.113.9", true},
		{"single v4 address, other address", prefixes("203.0.113.9"), "203.0.113.10", false},
		{"v4 CIDR inside", prefixes("10.0.0.0/8"), "10.255.1.2", true},
		{"v4 CIDR outside", prefixes("10.0.0.0/8"), "11.0.0.1", false},
		{"v4 CIDR with host bits", prefixes("192.168.1.77/24"), "192.168.1.3", true},
		{"v4 CIDR with host bits, outside", prefixes("192.168.1.77/24"), "192.168.2.3", false},
		{"v6 address", prefixes("2001:db8::1"), "2001:db8::1", true},
		{"v6 address, other", prefixes("2001:db8::1"), "2001:db8::2", false},
		{"v6 CIDR inside", prefixes("2001:db8::/32"), "2001:db8:ffff::1", true},
		{"v6 CIDR outside", prefixes("2001:db8::/32"), "2001:db9::1", false},
		{"v4-mapped client, v4 allowlist", prefixes("10.0.0.0/8"), "::ffff:10.1.2.3", true},
		{"v4-mapped client, v4 allowlist, outside", prefixes("10.0.0.0/8"), "::ffff:11.1.2.3", false},
		{"v4-mapped allowlist address, v4 client", prefixes("::ffff:203.0.113.9"), "203.0.113.9", true},
		{"v4-mapped allowlist address, mapped client", prefixes("::ffff:203.0.113.9"), "::ffff:203.0.113.9", true},
		{"v4-mapped allowlist CIDR, v4 client", prefixes("::ffff:10.0.0.0/104"), "10.9.8.7", true},
		{"v4-mapped allowlist CIDR, mapped client", prefixes("::ffff:10.0.0.0/104"), "::ffff:10.9.8.7", true},
		{"v4-mapped allowlist CIDR, outside", prefixes("::ffff:10.0.0.0/104"), "11.9.8.7", false},
		{"v4 allowlist, v6 client", prefixes("10.0.0.0/8"), "2001:db8::1", false},
		{"v6 allowlist, v4 client", prefixes("::/0"), "10.0.0.1", false},
		{"several prefixes, second matches", prefixes("10.0.0.0/8", "2001:db8::/32"), "2001:db8::5", true},
		{"several prefixes, none matches", prefixes("10.0.0.0/8", "2001:db8::/32"), "192.0.2.1", false},
		{"allow all v4", prefixes("0.0.0.0/0"), "198.51.100.1", true},
		{"invalid client address", prefixes("10.0.0.0/8"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			id := &Identity{IPAllow: tt.allow}
			if got := id.AllowsIP(ip); got != tt.want {
				t.Fatalf("AllowsIP(%s) with %v = %v, want %v", tt.ip, tt.allow, got, tt.want)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"203.0.113.9", "203.0.113.9/32", false},
		{"10.0.0.0/8", "10.0.0.0/8", false},
		{"10.1.2.3/8", "10.0.0.0/8", false},
		{"0.0.0.0/0", "0.0.0.0/0", false},
		{"2001:db8::1", "2001:db8::1/128", false},
		{"2001:db8::1/32", "2001:db8::/32", false},
		{"::ffff:203.0.113.9", "203.0.113.9/32", false},
		{"::ffff:203.0.113.9/128", "203.0.113.9/32", false},
		{"::ffff:10.1.2.3/104", "10.0.0.0/8", false},
		{"::ffff:0:0/96", "0.0.0.0/0", false},
		{"::ffff:0:0/80", "::/80", false},
		{"", "", true},
		{"10.0.0.0/33", "", true},
		{"2001:db8::/129", "", true},
		{"10.0.0", "", true},
		{"256.0.0.1", "", true},
		{"example.com", "", true},
		{"10.0.0.0/", "", true},
		{"10.0.0.0/-1", "", true},
		{" 10.0.0.1", "", true},
	}
	for _, tt := range tests {
		got, err := parsePrefix(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parsePrefix(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePrefix(%q): %v", tt.in, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("parsePrefix(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
