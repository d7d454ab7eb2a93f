package auditchain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Checkpoint anchors a gateway's chain head outside the audit_logs table:
// the gateway signs the seq and hash of the newest record of every batch it
// ships, and the store keeps the newest checkpoint of each gateway in
// another table. A hash chain alone cannot show that its newest records
// were deleted; verification checks that the stored chain reaches its
// checkpoint, and the signature (a key derived from the shared secret,
// which is not in the database) means a database writer cannot forge a
// checkpoint for a shorter chain.
type Checkpoint struct {
	// GatewayID is the chain's gateway.
	GatewayID string `json:"gateway_id"`
	// Seq is the seq of the newest record the gateway has shipped.
	Seq int64 `json:"seq"`
	// Hash is that record's hash.
	Hash string `json:"hash"`
	// Timestamp is that record's timestamp (retention removes a checkpoint
	// with the records it anchors).
	Timestamp time.Time `json:"timestamp"`
	// MAC is the lowercase hex HMAC-SHA256 of the members above under
	// CheckpointKey(secret).
	MAC string `json:"mac"`
}

func (c *Checkpoint) mac(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("hub-audit-checkpoint\n" + c.GatewayID + "\n" + strconv.FormatInt(c.Seq, 10) + "\n" + c.Hash + "\n" +
		strconv.FormatInt(c.Timestamp.UTC().Truncate(time.Microsecond).UnixMicro(), 10)))
	return m.Sum(nil)
}

// Sign sets MAC under key (CheckpointKey of the shared secret).
func (c *Checkpoint) Sign(key []byte) {
	c.Timestamp = c.Timestamp.UTC().Truncate(time.Microsecond)
	c.MAC = hex.EncodeToString(c.mac(key))
}

// Valid reports whether MAC is the signature of c under key (constant time).
func (c *Checkpoint) Valid(key []byte) bool {
	got, err := hex.DecodeString(c.MAC)
	return err == nil && hmac.Equal(got, c.mac(key))
}
