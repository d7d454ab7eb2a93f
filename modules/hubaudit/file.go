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
	return f, nil
}
