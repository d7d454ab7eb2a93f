// Command sdkgen refreshes the SDKs' inputs and Go types (`make sdk`,
// docs/sdk.md): it starts the real hubchantier and hubgate binaries on
// loopback ports (HUB_BIN_DIR, default bin/), fetches /api/openapi.json and
// /api/v2/openapi.json through the gateway — the documents clients see,
// the v2 one derived by hub_version — writes them to sdk/openapi/, and
// regenerates sdk/go/hubclient/types_gen.go from them. `make sdk` then runs
// openapi-typescript on the same files for sdk/typescript. No network
// beyond loopback.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
	"github.com/hubchantier/hubgate/sdk/internal/gengo"
)

// Documents maps each API document's path on the gateway to its file
// under sdk/openapi and its Go type prefix.
var documents = []struct{ path, file, prefix string }{
	{"/api/openapi.json", "v1.json", ""},
	{"/api/v2/openapi.json", "v2.json", "V2"},
}

func main() {
	root := flag.String("root", harness.RepoRoot(), "repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "sdkgen:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	docs, err := fetchDocuments()
	if err != nil {
		return err
	}
	var gd []gengo.Doc
	for i, d := range documents {
		if err := os.WriteFile(filepath.Join(root, "sdk", "openapi", d.file), docs[i], 0o644); err != nil {
			return err
		}
		gd = append(gd, gengo.Doc{Prefix: d.prefix, JSON: docs[i]})
	}
	src, err := gengo.Generate(gd...)
	if err != nil {
		return err
	}
	out := filepath.Join(root, "sdk", "go", "hubclient", "types_gen.go")
	if err := os.WriteFile(out, src, 0o644); err != nil {
		return err
	}
	fmt.Println("sdkgen: wrote sdk/openapi/v1.json, sdk/openapi/v2.json, sdk/go/hubclient/types_gen.go")
	return nil
}

// fetchDocuments starts a stack in a temporary directory and returns the
// documents' bytes, newline-terminated, in the order of documents.
func fetchDocuments() ([][]byte, error) {
	dir, err := os.MkdirTemp("", "hubgate-sdkgen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	secret := harness.NewSecret()
	up, err := harness.StartUpstream(harness.UpstreamOptions{Secret: secret, Dir: dir})
	if err != nil {
		return nil, err
	}
	defer up.Stop()
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: secret, Dir: dir})
	if err != nil {
		return nil, err
	}
	defer gw.Stop()
	return fetch(&http.Client{Timeout: 30 * time.Second}, gw.URL)
}

// fetch GETs every document from the gateway at base.
func fetch(hc *http.Client, base string) ([][]byte, error) {
	var out [][]byte
	for _, d := range documents {
		resp, err := hc.Get(base + d.path)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", d.path, resp.StatusCode, b)
		}
		out = append(out, append(bytes.TrimRight(b, "\n"), '\n'))
	}
	return out, nil
}
