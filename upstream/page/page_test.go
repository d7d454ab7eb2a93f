package page

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		query   string
		want    int
		wantErr bool
	}{
		{"", DefaultLimit, false},
		{"limit=1", 1, false},
		{"limit=100", 100, false},
		{"limit=0", 0, true},
		{"limit=101", 0, true},
		{"limit=-5", 0, true},
		{"limit=abc", 0, true},
		{"limit=", 0, true},
		{"limit=5&limit=6", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := ParseLimit(q)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseLimit(%q) = %d, %v", tt.query, got, err)
			}
			var pe *Error
			if err != nil && (!errors.As(err, &pe) || pe.Field != "limit" || pe.Slug != "validation") {
				t.Fatalf("error %#v does not name the limit field", err)
			}
		})
	}
}

func TestParsePage(t *testing.T) {
	tests := []struct {
		query   string
		want    int
		wantErr bool
	}{
		{"", 1, false},
		{"page=3", 3, false},
		{"page=0", 0, true},
		{"page=x", 0, true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got, err := ParsePage(q)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Fatalf("ParsePage(%q) = %d, %v", tt.query, got, err)
		}
	}
}

func TestNewOffset(t *testing.T) {
	tests := []struct {
		total int64
		limit int
		want  int64
	}{{0, 20, 0}, {1, 20, 1}, {20, 20, 1}, {21, 20, 2}, {123, 20, 7}}
	for _, tt := range tests {
		if got := *NewOffset(1, tt.limit, &tt.total, true).TotalPages; got != tt.want {
			t.Errorf("total=%d limit=%d: total_pages=%d, want %d", tt.total, tt.limit, got, tt.want)
		}
	}
}

func TestEnvelopeJSON(t *testing.T) {
	next := "abc"
	l := List[int]{Data: []int{1}, Pagination: &Cursors{NextCursor: &next, HasMore: true, Limit: 20}}
	b, _ := json.Marshal(l)
	want := `{"data":[1],"pagination":{"next_cursor":"abc","prev_cursor":null,"has_more":true,"limit":20}}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	total := int64(123)
	b, _ = json.Marshal(List[int]{Data: []int{}, Pagination: NewOffset(1, 20, &total, true)})
	want = `{"data":[],"pagination":{"page":1,"limit":20,"total":123,"total_pages":7,"total_exact":true,"has_more":false,"next_cursor":null}}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	// Not counted (?total=none): total and total_pages are null.
	b, _ = json.Marshal(NewOffset(2, 20, nil, true))
	want = `{"page":2,"limit":20,"total":null,"total_pages":null,"total_exact":false,"has_more":false,"next_cursor":null}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}

func TestCheckDepth(t *testing.T) {
	for _, tt := range []struct {
		page, limit int
		ok          bool
	}{{1, 20, true}, {500, 20, true}, {501, 20, false}, {100, 100, true}, {101, 100, false}, {10000, 1, true}, {10001, 1, false}, {1 << 40, 100, false}} {
		err := CheckDepth(tt.page, tt.limit)
		var pe *Error
		if (err == nil) != tt.ok || (err != nil && (!errors.As(err, &pe) || pe.Slug != TypePageTooDeep || pe.Field != "page")) {
			t.Errorf("CheckDepth(%d, %d) = %v", tt.page, tt.limit, err)
		}
	}
}

func TestParseTotal(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  TotalMode
		bad   bool
	}{{"", TotalAuto, false}, {"total=auto", TotalAuto, false}, {"total=exact", TotalExact, false}, {"total=none", TotalNone, false},
		{"total=true", "", true}, {"total=", "", true}, {"total=exact&total=none", "", true}} {
		q, _ := url.ParseQuery(tt.query)
		got, err := ParseTotal(q)
		if got != tt.want || (err != nil) != tt.bad {
			t.Errorf("ParseTotal(%q) = %q, %v", tt.query, got, err)
		}
	}
}
