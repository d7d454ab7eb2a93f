package audit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestGraphQLMember: a record's graphql member (issue 14) is stored, read
// back byte for byte, covered by the hash (changing it breaks the chain)
// and by the append-only guard.
func TestGraphQLMember(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newStore(d)
		ctx := context.Background()
		recs := chainOf("gw-g", 3, time.Now())
		// Re-seal with a GraphQL record in the middle.
		prev := ""
		for i := range recs {
			if i == 1 {
				recs[i].GraphQL = []byte(`{"operation_name":"Page","operation_type":"query","root_fields":["chantiers"],"cost":20}`)
			}
			if err := recs[i].Seal(prev); err != nil {
				t.Fatal(err)
			}
			prev = recs[i].Hash
		}
		insertAnchored(t, s, recs)
		got, err := s.byEventIDForTest(ctx, recs[1].EventID)
		if err != nil || string(got.GraphQL) != string(recs[1].GraphQL) {
			t.Fatalf("stored graphql %q (%v)", got.GraphQL, err)
		}
		if res, err := s.Verify(ctx, VerifyOptions{}); err != nil || res.Break != nil {
			t.Fatalf("verify: %+v %v", res, err)
		}
		if _, err := d.Exec(ctx, `UPDATE audit_logs SET graphql = '{}'`); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("update of graphql: %v, want append-only refusal", err)
		}
		tamper(t, d, `UPDATE audit_logs SET graphql = ? WHERE gateway_id = 'gw-g' AND seq = 2`, `{"operation_type":"query","root_fields":["users"],"cost":1}`)
		if res, err := s.Verify(ctx, VerifyOptions{}); err != nil || res.Break == nil || res.Break.Seq != 2 || res.Break.Kind != BreakHashMismatch {
			t.Fatalf("verify after tampering: %+v %v", res, err)
		}
	})
}

// byEventIDForTest reads one stored record.
func (s *Store) byEventIDForTest(ctx context.Context, id string) (auditchain.Record, error) {
	return scanRecord(s.db.QueryRow(ctx, `SELECT `+columns+` FROM audit_logs WHERE event_id = ?`, id))
}
