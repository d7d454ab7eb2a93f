package gengo

import (
	"encoding/json"
	"fmt"
	"strings"
)

// collections writes one accessor per collection of the document: a path
// P whose GET answers a <Name>List and that has an item path P/{id}. The
// accessor is a Collection (writable: P has a POST) or a ReadOnly.
// Other paths (planning, stats, batch) are reached with Client.Do.
func (g *gen) collections(doc document) error {
	for _, p := range sortedKeys(doc.Paths) {
		item, ok := doc.Paths[p+"/{id}"]
		if !ok || item["get"] == nil {
			continue
		}
		list, err := listSchema(doc.Paths[p]["get"])
		if err != nil {
			return fmt.Errorf("GET %s: %w", p, err)
		}
		elem, ok := strings.CutSuffix(list, "List")
		if !ok {
			continue
		}
		res := p[strings.LastIndex(p, "/")+1:]
		fn := g.prefix + goName(res)
		elem = g.prefix + elem
		if _, writable := doc.Paths[p]["post"]; writable {
			g.printf("// %s is %s: list, get, create, replace, patch and delete.\n", fn, p)
			g.printf("func (c *Client) %s() *Collection[%s, %sInput, %s] {\n\treturn &Collection[%s, %sInput, %s]{c: c, path: %q}\n}\n\n",
				fn, elem, elem, elem+"List", elem, elem, elem+"List", p)
		} else {
			g.printf("// %s is %s: list and get (read-only).\n", fn, p)
			g.printf("func (c *Client) %s() *ReadOnly[%s, %s] {\n\treturn &ReadOnly[%s, %s]{c: c, path: %q}\n}\n\n", fn, elem, elem+"List", elem, elem+"List", p)
		}
	}
	return nil
}

// listSchema is the schema name of a GET operation's 200 JSON answer.
func listSchema(raw json.RawMessage) (string, error) {
	var o struct {
		Responses map[string]struct {
			Content map[string]struct {
				Schema schema `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", err
	}
	ref := o.Responses["200"].Content["application/json"].Schema.Ref
	return strings.TrimPrefix(ref, "#/components/schemas/"), nil
}
