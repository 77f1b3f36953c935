package webui

import "testing"

func TestCount(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 heartbeats"},
		{1, "1 heartbeat"},
		{2, "2 heartbeats"},
		{13, "13 heartbeats"},
	}
	for _, tt := range tests {
		if got := count(tt.n, "heartbeat", "heartbeats"); got != tt.want {
			t.Errorf("count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
