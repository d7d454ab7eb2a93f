package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

// TestGuard: internal literals and localhost names are refused without
// DNS, the dialed address is checked at connect time, and AllowPrivate
// turns the guard off.
func TestGuard(t *testing.T) {
	g := Guard{}
	for _, h := range []string{"127.0.0.1", "::1", "[::1]", "10.1.2.3", "192.168.0.1", "172.16.0.9", "169.254.169.254",
		"100.64.0.1", "0.0.0.0", "fd00:ec2::254", "::ffff:127.0.0.1", "localhost", "api.localhost", "LOCALHOST."} {
		if err := g.CheckLiteral(h); !errors.Is(err, ErrPrivate) {
			t.Errorf("CheckLiteral(%q) = %v", h, err)
		}
	}
	for _, h := range []string{"93.184.215.14", "2606:4700::1111", "api.example.com"} {
		if err := g.CheckLiteral(h); err != nil {
			t.Errorf("CheckLiteral(%q) = %v", h, err)
		}
	}
	for _, a := range []string{"127.0.0.1:80", "[::1]:443", "10.0.0.1:443", "169.254.169.254:80"} {
		if err := g.DialControl("tcp", a, nil); !errors.Is(err, ErrPrivate) {
			t.Errorf("DialControl(%q) = %v", a, err)
		}
	}
	if err := g.DialControl("tcp", "93.184.215.14:443", nil); err != nil {
		t.Errorf("public dial refused: %v", err)
	}
	open := Guard{AllowPrivate: true}
	if open.CheckLiteral("127.0.0.1") != nil || open.DialControl("tcp", "127.0.0.1:1", nil) != nil {
		t.Error("AllowPrivate still refuses loopback")
	}
	if !PublicAddr(netip.MustParseAddr("2606:4700::1111")) || PublicAddr(netip.MustParseAddr("fe80::1")) {
		t.Error("PublicAddr")
	}
	// A name resolving to loopback is refused by CheckHost.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	if err := (Guard{Resolver: r}).CheckHost(context.Background(), "does-not-resolve.example"); err == nil {
		t.Error("an unresolvable host passed")
	}
	if _, err := g.CheckURL(context.Background(), "http://user:pw@93.184.215.14/"); err == nil {
		t.Error("credentials in the URL passed")
	}
}
