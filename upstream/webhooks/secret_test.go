package webhooks

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSignStandardWebhooksVector: the test vector of the Standard Webhooks
// reference libraries (secret, msg id, timestamp, payload → signature).
func TestSignStandardWebhooksVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if !Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`), "v1,bm90IGl0 "+got) {
		t.Error("Verify refused a header holding the right signature second")
	}
	if Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, []byte(`{"test": 2432232314}`), got) {
		t.Error("Verify accepted another timestamp")
	}
}

// TestSealedSecret: secrets open only for their own webhook id and key.
func TestSealedSecret(t *testing.T) {
	key := make([]byte, 32)
	s, _ := newSealer(key)
	enc, err := s.seal("wh_a", "whsec_x")
	if err != nil || strings.Contains(enc, "whsec_x") {
		t.Fatalf("seal: %q, %v", enc, err)
	}
	if got, err := s.open("wh_a", enc); err != nil || got != "whsec_x" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := s.open("wh_b", enc); err == nil {
		t.Error("a ciphertext opened for another webhook")
	}
	key[0] = 1
	other, _ := newSealer(key)
	if _, err := other.open("wh_a", enc); err == nil {
		t.Error("a ciphertext opened under another key")
	}
}

// TestGuardRefusesInternalTargets: URLs and dialed addresses that are
// loopback, private, link-local (cloud metadata) and the like are refused
// unless private targets are allowed.
func TestGuardRefusesInternalTargets(t *testing.T) {
	g := guard{resolver: net.DefaultResolver}
	ctx := context.Background()
	for _, u := range []string{
		"http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]/x", "http://10.1.2.3/x", "http://192.168.1.1/x",
		"http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://0.0.0.0/", "http://100.64.0.1/",
		"http://[::ffff:127.0.0.1]/", "http://172.16.0.1/", "http://foo.localhost/",
	} {
		if _, err := g.checkURL(ctx, u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"ftp://example.com/", "/relative", "http://user:pw@example.com/", "http://example.com/#frag", "mailto:a@b"} {
		if _, err := g.checkURL(ctx, u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if _, err := g.checkURL(ctx, "https://93.184.215.14/hook"); err != nil {
		t.Errorf("public address refused: %v", err)
	}
	for _, a := range []string{"127.0.0.1:80", "[::1]:443", "169.254.169.254:80", "10.0.0.1:443", "[::ffff:10.0.0.1]:80"} {
		if err := g.dialControl("tcp", a, nil); !errors.Is(err, errPrivate) {
			t.Errorf("dial %s: %v, want refused", a, err)
		}
	}
	if err := g.dialControl("tcp", "93.184.215.14:443", nil); err != nil {
		t.Errorf("dial public: %v", err)
	}
	open := guard{allowPrivate: true, resolver: net.DefaultResolver}
	if _, err := open.checkURL(ctx, "http://127.0.0.1:8080/x"); err != nil {
		t.Errorf("allow_private refused loopback: %v", err)
	}
	if !publicAddr(netip.MustParseAddr("2606:4700::1111")) {
		t.Error("public IPv6 refused")
	}
}

// FuzzCheckURL: any client-sent URL is either refused or an absolute
// http(s) URL without credentials whose literal host is public.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/h", "http://127.0.0.1/", "http://[::1]:80/", "http://0x7f.1/", "http://2130706433/", "https://a@b/", "http://[fe80::1%25eth0]/"} {
		f.Add(s)
	}
	g := guard{resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return nil, errors.New("no DNS in fuzzing")
	}}}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := g.checkURL(context.Background(), raw)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host == "" {
			t.Fatalf("accepted %q", raw)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !publicAddr(ip) {
			t.Fatalf("accepted internal %q", raw)
		}
	})
}

// TestVerifyRequest: a receiver accepts a fresh, signed delivery and
// refuses a replay, a tampered body and missing headers.
func TestVerifyRequest(t *testing.T) {
	secret, _ := newSecret()
	now := time.Unix(1700000000, 0)
	body := []byte(`{"id":"evt_1"}`)
	sig, _ := Sign(secret, "evt_1", now.Unix(), body)
	h := http.Header{}
	h.Set(HeaderID, "evt_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderSignature, sig)
	if err := VerifyRequest(secret, h, body, now.Add(time.Minute)); err != nil {
		t.Fatalf("fresh delivery refused: %v", err)
	}
	if VerifyRequest(secret, h, body, now.Add(Tolerance+time.Second)) == nil {
		t.Error("replay beyond the tolerance accepted")
	}
	if VerifyRequest(secret, h, []byte(`{"id":"evt_2"}`), now) == nil {
		t.Error("tampered body accepted")
	}
	other, _ := newSecret()
	if VerifyRequest(other, h, body, now) == nil {
		t.Error("another secret accepted")
	}
	h.Del(HeaderSignature)
	if VerifyRequest(secret, h, body, now) == nil {
		t.Error("unsigned delivery accepted")
	}
}

// FuzzVerifyRequest: arbitrary headers never verify without the secret's
// signature, and never panic.
func FuzzVerifyRequest(f *testing.F) {
	f.Add("evt_1", "1700000000", "v1,abc v1,def", []byte("{}"))
	f.Add("", "-1", "v2,", []byte(nil))
	f.Add("x", "99999999999999999999", "v1,"+strings.Repeat("A", 44), []byte("body"))
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		sec, _ := strconv.ParseInt(ts, 10, 64)
		err := VerifyRequest(secret, h, body, time.Unix(sec, 0))
		if want, _ := Sign(secret, id, sec, body); err == nil && !strings.Contains(sig, want) {
			t.Fatalf("verified without the signature: %q", sig)
		}
	})
}

// TestSealedSecretSurvivesRollover: a secret sealed under the old key opens
// with the old key given as an OpenKey, and new seals use the new key.
func TestSealedSecretSurvivesRollover(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, _ := newSealer(oldKey)
	enc, err := old.seal("wh_1", "whsec_x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustSealer(t, newKey).open("wh_1", enc); err == nil {
		t.Fatal("the new key alone opened the old seal")
	}
	rolled := mustSealer(t, newKey, oldKey)
	if got, err := rolled.open("wh_1", enc); err != nil || got != "whsec_x" {
		t.Fatalf("open during the rollover: %q %v", got, err)
	}
	fresh, _ := rolled.seal("wh_1", "whsec_y")
	if got, err := mustSealer(t, newKey).open("wh_1", fresh); err != nil || got != "whsec_y" {
		t.Fatalf("new seals not under the new key: %q %v", got, err)
	}
}

func mustSealer(t *testing.T, key []byte, older ...[]byte) *sealer {
	t.Helper()
	s, err := newSealer(key, older...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
