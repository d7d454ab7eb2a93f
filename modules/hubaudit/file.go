package hubaudit

import "os"

// segmentFile is what the journal needs of a segment file. Tests put a
// fake behind it to check what the page cache hides from a kill -9 test:
// that no record is acknowledged before Sync returned, and that a failed
// Sync acknowledges nothing.
type segmentFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

// fileOpener creates a segment file (os.OpenFile's arguments).
type fileOpener func(name string, flag int, perm os.FileMode) (segmentFile, error)

func openOSFile(name string, flag int, perm os.FileMode) (segmentFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osSegment{f}, nil
}

// osSegment is a segment file whose Sync is an fdatasync where the system
// has one: segments are preallocated (segment.go), so a record's write
// changes no metadata that reading it back needs, and fdatasync writes the
// data without the inode's timestamps. Where a write does grow the file
// (a record larger than the room left), fdatasync writes the new size too.
type osSegment struct{ *os.File }

func (f osSegment) Sync() error { return datasync(f.File) }
