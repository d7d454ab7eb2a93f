package hubaudit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A journal segment is a sequence of frames:
//
//	uint32 big-endian length of payload | uint32 big-endian CRC-32C of payload | payload
//
// The payload's first byte is its kind ('H' segment header, 'R' record),
// the rest is JSON. A crash can leave a torn last frame (short, or with a
// CRC that does not match); recovery truncates the segment there. Only
// bytes that were fsync'd are ever shipped, so a torn frame was never
// acknowledged to a client nor shipped.
const (
	frameHeaderLen = 8
	kindHeader     = 'H'
	kindRecord     = 'R'
	// maxFrame bounds one payload: a record is a few KiB at most (user
	// agent and changes are bounded), so anything larger is corruption.
	maxFrame = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a frame that is incomplete or fails its checksum.
var errTorn = errors.New("torn or corrupt frame")

// appendFrame appends the frame of kind and body to dst.
func appendFrame(dst []byte, kind byte, body []byte) []byte {
	n := len(body) + 1
	var hdr [frameHeaderLen]byte
	binary.BigEndian.PutUint32(hdr[0:4], uint32(n))
	crc := crc32.Update(crc32.Update(0, castagnoli, []byte{kind}), castagnoli, body)
	binary.BigEndian.PutUint32(hdr[4:8], crc)
	dst = append(dst, hdr[:]...)
	dst = append(dst, kind)
	return append(dst, body...)
}

// sealFrame fills in the header of frame, whose payload (kind and body)
// follows the frameHeaderLen bytes reserved for it.
func sealFrame(frame []byte) {
	payload := frame[frameHeaderLen:]
	binary.BigEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
}

// readFrame reads one frame. It returns io.EOF at a clean end (the end of
// the file, or of what was written in a preallocated segment), errTorn on
// a short or corrupt frame; n is the frame's size on disk.
func readFrame(r io.Reader, buf []byte) (kind byte, body []byte, n int, err error) {
	var hdr [frameHeaderLen]byte
	if k, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF && k == 0 {
			return 0, nil, 0, io.EOF
		}
		return 0, nil, 0, errTorn
	}
	if hdr == ([frameHeaderLen]byte{}) {
		// The zero-filled, preallocated rest of a segment (segment.go):
		// no frame is ever empty, so this is the end.
		return 0, nil, 0, io.EOF
	}
	size := binary.BigEndian.Uint32(hdr[0:4])
	if size < 1 || size > maxFrame {
		return 0, nil, 0, fmt.Errorf("%w: length %d", errTorn, size)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, 0, errTorn
	}
	if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(hdr[4:8]) {
		return 0, nil, 0, fmt.Errorf("%w: checksum", errTorn)
	}
	return buf[0], buf[1:], frameHeaderLen + int(size), nil
}
