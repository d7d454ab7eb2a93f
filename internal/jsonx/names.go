package jsonx

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Mapping names members in v2: every v1 name becomes its camelCase image
// (date_debut → dateDebut) unless an explicit rename says otherwise
// (nom → name). The inverse turns v2 names back into v1 names: explicit
// renames first, then snake_case (dateDebut → date_debut).
//
// The two directions are inverse on names that are camelCase images of
// snake_case v1 names (lowercase ASCII words joined by single underscores,
// each word starting with a letter) and on explicitly renamed names, as
// long as no explicit target is also the camelCase image of another v1 name
// (checked where possible by NewMapping).
type Mapping struct {
	toV2 map[string]string
	toV1 map[string]string
}

// MappingFile is the JSON form of a mapping (configs/v2-mapping.json).
type MappingFile struct {
	// Description is free text for the humans editing the file.
	Description string `json:"description,omitempty"`
	// Renames maps v1 member names to their v2 names; names not listed
	// are camelCased.
	Renames map[string]string `json:"renames"`
}

// NewMapping builds a mapping from explicit renames (v1 → v2). It refuses
// renames that would make v2 names ambiguous.
func NewMapping(renames map[string]string) (*Mapping, error) {
	m := &Mapping{toV2: make(map[string]string, len(renames)), toV1: make(map[string]string, len(renames))}
	for v1, v2 := range renames {
		if !validName(v1) || !validName(v2) {
			return nil, fmt.Errorf("rename %q → %q: names are letters, digits and underscores", v1, v2)
		}
		if prev, dup := m.toV1[v2]; dup {
			return nil, fmt.Errorf("renames %q and %q both become %q", prev, v1, v2)
		}
		m.toV2[v1] = v2
		m.toV1[v2] = v1
	}
	// A target equal to the camelCase image of another renamed source
	// would be read back as two different v1 names.
	for v1 := range renames {
		if c := Camel(v1); c != renames[v1] {
			if other, clash := m.toV1[c]; clash && other != v1 {
				return nil, fmt.Errorf("rename target %q is also the camelCase form of %q", c, v1)
			}
		}
	}
	return m, nil
}

// LoadMapping reads a MappingFile.
func LoadMapping(path string) (*Mapping, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read v2 mapping: %w", err)
	}
	var f MappingFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, nil, fmt.Errorf("parse v2 mapping %s: %w", path, err)
	}
	m, err := NewMapping(f.Renames)
	if err != nil {
		return nil, nil, fmt.Errorf("v2 mapping %s: %w", path, err)
	}
	return m, f.Renames, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// AppendV2 appends the v2 name of the v1 name key (a RenameFunc).
func (m *Mapping) AppendV2(dst, key []byte) []byte {
	if m != nil {
		if v, ok := m.toV2[string(key)]; ok {
			return append(dst, v...)
		}
	}
	return appendCamel(dst, key)
}

// AppendV1 appends the v1 name of the v2 name key (a RenameFunc).
func (m *Mapping) AppendV1(dst, key []byte) []byte {
	if m != nil {
		if v, ok := m.toV1[string(key)]; ok {
			return append(dst, v...)
		}
	}
	return appendSnake(dst, key)
}

// V2 returns the v2 name of a v1 name.
func (m *Mapping) V2(s string) string {
	if m != nil {
		if v, ok := m.toV2[s]; ok {
			return v
		}
	}
	return Camel(s)
}

// V1 returns the v1 name of a v2 name.
func (m *Mapping) V1(s string) string {
	if m != nil {
		if v, ok := m.toV1[s]; ok {
			return v
		}
	}
	return Snake(s)
}

// Path maps each dot-separated segment of p with f (fields=responsable.nom).
func Path(p string, f func(string) string) string {
	if !strings.Contains(p, ".") {
		return f(p)
	}
	segs := strings.Split(p, ".")
	for i, s := range segs {
		segs[i] = f(s)
	}
	return strings.Join(segs, ".")
}

// Camel returns the camelCase image of a snake_case name: an underscore
// followed by a lowercase letter, not at the start, becomes that letter in
// upper case. Anything else is kept.
func Camel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	return string(appendCamel(nil, []byte(s)))
}

// Snake returns the snake_case image of a camelCase name: an uppercase
// ASCII letter not at the start becomes an underscore and the letter in
// lower case.
func Snake(s string) string {
	for i := 1; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return string(appendSnake(nil, []byte(s)))
		}
	}
	return s
}

func appendCamel(dst, key []byte) []byte {
	lead := true // leading underscores are kept (_links stays _links)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c != '_' {
			lead = false
		}
		if c == '_' && !lead && i+1 < len(key) && key[i+1] >= 'a' && key[i+1] <= 'z' {
			dst = append(dst, key[i+1]-'a'+'A')
			i++
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func appendSnake(dst, key []byte) []byte {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if i > 0 && c >= 'A' && c <= 'Z' {
			dst = append(dst, '_', c-'A'+'a')
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
