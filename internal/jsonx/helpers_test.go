package jsonx

import "errors"

// Helpers the tests use and the package does not: kept out of its API.

// IsUnknown reports whether err is an *UnknownError.
func IsUnknown(err error) bool {
	var u *UnknownError
	return errors.As(err, &u)
}

// Valid reports whether src is one JSON value (with the same rules as Apply).
func Valid(src []byte) bool {
	t := transformer{src: src}
	t.ws()
	if t.skip(0) != nil {
		return false
	}
	t.ws()
	return t.i == len(src)
}
