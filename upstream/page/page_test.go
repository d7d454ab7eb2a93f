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
		if got := NewOffset(1, tt.limit, tt.total).TotalPages; got != tt.want {
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
	b, _ = json.Marshal(List[int]{Data: []int{}, Pagination: NewOffset(1, 20, 123)})
	want = `{"data":[],"pagination":{"page":1,"limit":20,"total":123,"total_pages":7}}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}
