package hubaudit

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Journal is the append-only local audit journal of one gateway instance:
// records are hash-chained, queued in memory and written to the active
// segment in groups, one write and one fsync per group (a group is every
// record queued while the previous one was written, so latency stays at
// about one fsync under any concurrency); no record is acknowledged before
// its group's fsync returned.
//
// Directory layout:
//
//	gateway_id              this instance's chain id (created once)
//	lock                    flock'd while a process uses the directory
//	segment-<20 digits>.log frames (frame.go); the first one of each
//	                        segment is a header carrying the chain head;
//	                        zero-filled after the last frame (segment.go)
//	next-segment.tmp        the next segment, preallocated in advance
//	shipped                 {"segment":N,"offset":O}: the first unshipped frame
type Journal struct {
	dir         string
	gatewayID   string
	segmentSize int64
	log         *zap.Logger
	unlock      func()
	open        fileOpener

	mu        sync.Mutex
	cond      *sync.Cond
	f         segmentFile // active segment
	fseq      uint64      // active segment number
	fsize     int64       // bytes written to the active segment
	durable   int64       // bytes of the active segment known fsync'd
	retired   []segmentFile
	head      string // hash of the last record
	nextSeq   int64
	diskBytes int64      // bytes of every segment file present
	alloc     int64      // size of the active segment's file (preallocated)
	pending   []byte     // frames queued for the syncer's next write
	spareBuf  []byte     // the previous round's buffer, reused
	inflight  bool       // the syncer is writing or fsyncing outside j.mu
	idle      *sync.Cond // signalled when a round ends (inflight false)
	spare     *spareJob  // the next segment being prepared (segment.go)
	round     *syncRound
	dirty     bool
	closed    bool
	broken    error // a write or an fsync failed: nothing more is acknowledged
	syncDone  chan struct{}
	notify    chan struct{} // wakes the shipper after a sync, capacity 1

	backlog atomic.Int64 // records journaled, not yet shipped
}

// syncRound is one group fsync; done is closed when it has finished.
type syncRound struct {
	done chan struct{}
	err  error
}

func newRound() *syncRound { return &syncRound{done: make(chan struct{})} }

// segmentHeader is the first frame of a segment: what recovery needs to
// continue the chain even when every earlier segment was shipped and deleted.
type segmentHeader struct {
	GatewayID string `json:"gateway_id"`
	Segment   uint64 `json:"segment"`
	PrevHash  string `json:"prev_hash"`
	NextSeq   int64  `json:"next_seq"`
}

// cursor is a position in the journal: the next frame to ship.
type cursor struct {
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
}

const (
	gatewayIDFile = "gateway_id"
	cursorFile    = "shipped"
	segPrefix     = "segment-"
	segSuffix     = ".log"
)

func segName(n uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, n, segSuffix) }

// OpenJournal opens (or creates) the journal in dir, recovers a torn tail
// left by a crash and starts a fresh segment. Only one process may use a
// directory at a time.
func OpenJournal(dir string, segmentSize int64, log *zap.Logger) (*Journal, error) {
	return openJournal(dir, segmentSize, log, openOSFile)
}

func openJournal(dir string, segmentSize int64, log *zap.Logger, open fileOpener) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create audit journal directory: %w", err)
	}
	unlock, err := lockDir(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("audit journal %s: %w", dir, err)
	}
	j := &Journal{dir: dir, segmentSize: segmentSize, log: log, unlock: unlock, open: open, round: newRound(),
		syncDone: make(chan struct{}), notify: make(chan struct{}, 1), nextSeq: 1}
	j.cond = sync.NewCond(&j.mu)
	j.idle = sync.NewCond(&j.mu)
	if err := j.recover(); err != nil {
		unlock()
		return nil, err
	}
	go j.syncer()
	return j, nil
}

// GatewayID returns the chain id of this journal.
func (j *Journal) GatewayID() string { return j.gatewayID }

// HeadSeq returns the seq of the newest record of the chain (0 before the
// first), an anchor outside the audit store.
func (j *Journal) HeadSeq() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.nextSeq - 1
}

// Backlog returns the number of records journaled and not yet shipped.
func (j *Journal) Backlog() int64 { return j.backlog.Load() }

// DiskBytes returns the size of the segment files on disk.
func (j *Journal) DiskBytes() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.diskBytes
}

func (j *Journal) recover() error {
	id, err := os.ReadFile(filepath.Join(j.dir, gatewayIDFile))
	switch {
	case err == nil && len(strings.TrimSpace(string(id))) > 0:
		j.gatewayID = strings.TrimSpace(string(id))
	case err == nil || errors.Is(err, os.ErrNotExist):
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		host, _ := os.Hostname()
		j.gatewayID = sanitizeID(host) + "-" + hex.EncodeToString(b)
		if err := writeFileAtomic(j.dir, gatewayIDFile, []byte(j.gatewayID+"\n")); err != nil {
			return err
		}
	default:
		return fmt.Errorf("read gateway id: %w", err)
	}
	segs, err := j.segments()
	if err != nil {
		return err
	}
	next := uint64(1)
	for _, s := range segs {
		fi, err := os.Stat(filepath.Join(j.dir, segName(s)))
		if err == nil {
			j.diskBytes += fi.Size()
		}
	}
	if len(segs) > 0 {
		last := segs[len(segs)-1]
		if err := j.recoverTail(last); err != nil {
			return err
		}
		next = last + 1
	}
	cur, err := j.loadCursor(segs)
	if err != nil {
		return err
	}
	var n int64
	for _, s := range segs {
		if s < cur.Segment {
			continue
		}
		off := int64(0)
		if s == cur.Segment {
			off = cur.Offset
		}
		c, _, err := j.countRecords(s, off)
		if err != nil {
			return err
		}
		n += c
	}
	j.backlog.Store(n)
	return j.openSegment(next)
}

// recoverTail scans the last segment, truncates it after its last whole
// frame and takes the chain head from it.
func (j *Journal) recoverTail(seg uint64) error {
	path := filepath.Join(j.dir, segName(seg))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open segment %d: %w", seg, err)
	}
	defer f.Close()
	var good int64
	var buf []byte
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		kind, body, n, err := readFrame(r, buf)
		if err != nil {
			if !errors.Is(err, errTorn) {
				break // clean end
			}
			fi, _ := f.Stat()
			j.log.Warn("audit journal: truncating torn tail left by a crash",
				zap.String("segment", path), zap.Int64("at", good), zap.Int64("size", fi.Size()))
			if err := f.Truncate(good); err != nil {
				return fmt.Errorf("truncate torn segment %d: %w", seg, err)
			}
			if err := f.Sync(); err != nil {
				return err
			}
			j.diskBytes -= fi.Size() - good
			break
		}
		good += int64(n)
		switch kind {
		case kindHeader:
			var h segmentHeader
			if json.Unmarshal(body, &h) == nil {
				j.head, j.nextSeq = h.PrevHash, h.NextSeq
			}
		case kindRecord:
			var rec struct {
				Seq  int64  `json:"seq"`
				Hash string `json:"hash"`
			}
			if json.Unmarshal(body, &rec) == nil {
				j.head, j.nextSeq = rec.Hash, rec.Seq+1
			}
		}
	}
	return nil
}

// countRecords counts the record frames of segment seg from off to its end
// and returns the end offset.
func (j *Journal) countRecords(seg uint64, off int64) (int64, int64, error) {
	f, err := os.Open(filepath.Join(j.dir, segName(seg)))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(off, 0); err != nil {
		return 0, 0, err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var n int64
	for {
		kind, _, size, err := readFrame(r, nil)
		if err != nil {
			if errors.Is(err, errTorn) {
				j.log.Error("audit journal: corrupt frame in a closed segment; the rest of it cannot be read",
					zap.Uint64("segment", seg), zap.Int64("offset", off))
			}
			return n, off, nil
		}
		off += int64(size)
		if kind == kindRecord {
			n++
		}
	}
}

// segments lists the segment numbers present, ascending.
func (j *Journal) segments() ([]uint64, error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("list audit journal: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out, nil
}

// loadCursor reads the shipped position; without one, shipping starts at
// the oldest segment present.
func (j *Journal) loadCursor(segs []uint64) (cursor, error) {
	first := cursor{Segment: 1}
	if len(segs) > 0 {
		first = cursor{Segment: segs[0]}
	}
	b, err := os.ReadFile(filepath.Join(j.dir, cursorFile))
	if errors.Is(err, os.ErrNotExist) {
		return first, nil
	}
	if err != nil {
		return cursor{}, fmt.Errorf("read shipped position: %w", err)
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		// The position is saved without fsync (saveCursor): a crash may
		// leave it empty or torn. Shipping again from the oldest segment
		// is safe, the store ignores event ids it has.
		j.log.Warn("audit journal: unreadable shipped position, shipping again from the oldest segment",
			zap.String("file", filepath.Join(j.dir, cursorFile)), zap.Error(err))
		return first, nil
	}
	if len(segs) > 0 && c.Segment < segs[0] {
		return first, nil
	}
	return c, nil
}

// saveCursor saves c. Within a segment it is written and renamed but not
// fsync'd: the position only saves work (a position lost in a crash means
// records shipped again, which the store ignores by event id), and two
// fsyncs per shipped batch competed with the journal's own fsync, the one
// each request waits for. Before shipped segments are deleted (durable
// true) it is fsync'd, so a position that survives a crash never points
// into a deleted segment.
func (j *Journal) saveCursor(c cursor, durable bool) error {
	b, _ := json.Marshal(c)
	if durable {
		return writeFileAtomic(j.dir, cursorFile, b)
	}
	tmp := filepath.Join(j.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(j.dir, cursorFile))
}

// segmentHeaderJSON encodes a segment header.
func segmentHeaderJSON(h segmentHeader) []byte {
	b, _ := json.Marshal(h)
	return b
}

// sanitizeID keeps [A-Za-z0-9.-] of s, at most 32 characters.
func sanitizeID(s string) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= 32 {
			break
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "gw"
	}
	return b.String()
}

// writeFileAtomic replaces dir/name with data durably.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a created, renamed or deleted entry of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
