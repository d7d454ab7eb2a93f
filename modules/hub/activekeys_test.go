package hub

import (
	"testing"
	"time"
)

func TestActiveKeySet(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		key   string // "" = prune only
		at    time.Duration
		gauge float64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"distinct keys count once each", []step{
			{"a", 0, 1}, {"a", time.Minute, 1}, {"b", 2 * time.Minute, 2}, {"c", 3 * time.Minute, 3},
		}},
		{"a key unseen for a window is dropped by prune", []step{
			{"a", 0, 1}, {"b", 30 * time.Minute, 2}, {"", time.Hour, 1}, {"", 90 * time.Minute, 0},
		}},
		{"a key seen again stays active", []step{
			{"a", 0, 1}, {"a", 59 * time.Minute, 1}, {"", 100 * time.Minute, 1}, {"", 119 * time.Minute, 0},
		}},
		{"a lapsed key not yet pruned counts once", []step{
			{"a", 0, 1}, {"a", 2 * time.Hour, 1}, {"", 2*time.Hour + time.Minute, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gauge float64
			s := newActiveKeySet(time.Hour, func(v float64) { gauge = v })
			for i, st := range tt.steps {
				if st.key == "" {
					s.prune(t0.Add(st.at))
				} else {
					s.note(st.key, t0.Add(st.at))
				}
				if gauge != st.gauge || float64(s.len()) != st.gauge {
					t.Fatalf("step %d: gauge %v, set %d, want %v", i, gauge, s.len(), st.gauge)
				}
			}
		})
	}
}
