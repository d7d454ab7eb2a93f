package harness

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisTLS is a redis-server answering only TLS, with a password: what
// `rediss://:password@host:port/0` reaches (docs/deployment.md, Redis
// AUTH and TLS).
type RedisTLS struct {
	*Proc
	Port     int
	Password string
	// CAFile is the PEM certificate clients must trust (SSL_CERT_FILE for
	// a Go process).
	CAFile string
}

// URL is the store URL, host localhost (the certificate's name).
func (r *RedisTLS) URL() string {
	return fmt.Sprintf("rediss://:%s@localhost:%d/0", r.Password, r.Port)
}

// StartRedisTLS starts redis-server with TLS only (no plain port) and
// requirepass, under a self-signed certificate for localhost and
// 127.0.0.1 written in dir. ErrSkip when redis-server lacks TLS.
func StartRedisTLS(dir, password string) (*RedisTLS, error) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w: redis-server not installed", ErrSkip)
	}
	certFile, keyFile := filepath.Join(dir, "redis.crt"), filepath.Join(dir, "redis.key")
	if err := selfSigned(certFile, keyFile); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p, err := Start(dir, "redis-tls-"+strconv.Itoa(port), server, nil,
		"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-auth-clients", "no",
		"--requirepass", password, "--dir", dir, "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(caPEM)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password,
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p.Exited() {
			return nil, fmt.Errorf("%w: redis-server without TLS support?\n%s", ErrSkip, p.Tail(2000))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return &RedisTLS{Proc: p, Port: port, Password: password, CAFile: certFile}, nil
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("redis-server TLS on %d: no answer within 15 s: %v\n%s", port, err, p.Tail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// selfSigned writes a self-signed ECDSA certificate for localhost and
// 127.0.0.1, valid one day.
func selfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
