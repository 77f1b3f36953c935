package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeDotEnv(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, DotEnvFile), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadPrecedence(t *testing.T) {
	type want struct {
		Token, TokenSource, APIURL, APIURLSource, Workspace, Project string
		Warnings                                                     int
	}
	tests := []struct {
		name   string
		dotenv string
		env    map[string]string
		flags  Flags
		want   want
	}{
		{
			name: "nothing",
			want: want{APIURL: DefaultAPIURL, APIURLSource: "default"},
		},
		{
			name:   "dotenv token",
			dotenv: "ASANA_PAT=dot-token\nASANA_WORKSPACE=1\nASANA_PROJECT=2\n",
			want:   want{Token: "dot-token", TokenSource: ".env ASANA_PAT", APIURL: DefaultAPIURL, APIURLSource: "default", Workspace: "1", Project: "2"},
		},
		{
			name:   "dotenv TEMP_PAT",
			dotenv: "TEMP_PAT=legacy\n",
			want:   want{Token: "legacy", TokenSource: ".env TEMP_PAT", APIURL: DefaultAPIURL, APIURLSource: "default"},
		},
		{
			name:   "env beats dotenv",
			dotenv: "ASANA_PAT=dot-token\nASANA_WORKSPACE=1\n",
			env:    map[string]string{"ASANA_PAT": "env-token", "ASANA_WORKSPACE": "10"},
			want:   want{Token: "env-token", TokenSource: "ASANA_PAT", APIURL: DefaultAPIURL, APIURLSource: "default", Workspace: "10"},
		},
		{
			name:   "env TEMP_PAT beats dotenv ASANA_PAT",
			dotenv: "ASANA_PAT=dot-token\n",
			env:    map[string]string{"TEMP_PAT": "legacy"},
			want:   want{Token: "legacy", TokenSource: "TEMP_PAT", APIURL: DefaultAPIURL, APIURLSource: "default"},
		},
		{
			name: "ASANA_PAT beats TEMP_PAT",
			env:  map[string]string{"TEMP_PAT": "legacy", "ASANA_PAT": "new"},
			want: want{Token: "new", TokenSource: "ASANA_PAT", APIURL: DefaultAPIURL, APIURLSource: "default"},
		},
		{
			name:   "flag beats env",
			dotenv: "ASANA_PAT=dot-token\n",
			env:    map[string]string{"ASANA_PAT": "env-token", "ASANA_API_URL": "http://127.0.0.1:1", "ASANA_PROJECT": "5"},
			flags:  Flags{Token: "flag-token", APIURL: "http://localhost:2", Project: "6"},
			want:   want{Token: "flag-token", TokenSource: "--token", APIURL: "http://localhost:2", APIURLSource: "--api-url", Project: "6"},
		},
		{
			name:   "api url from env",
			env:    map[string]string{"ASANA_API_URL": "http://127.0.0.1:1"},
			want:   want{APIURL: "http://127.0.0.1:1", APIURLSource: "ASANA_API_URL"},
			dotenv: "# only a comment\n",
		},
		{
			name:   "api url in dotenv ignored with a warning",
			dotenv: "ASANA_PAT=t\nASANA_API_URL=https://evil.example\n",
			want:   want{Token: "t", TokenSource: ".env ASANA_PAT", APIURL: DefaultAPIURL, APIURLSource: "default", Warnings: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.dotenv != "" {
				writeDotEnv(t, dir, tt.dotenv)
			}
			c, err := Load(Source{Getenv: envFunc(tt.env), WorkDir: dir}, tt.flags)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := want{c.Token, c.TokenSource, c.APIURL, c.APIURLSource, c.Workspace, c.Project, len(c.Warnings)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
			for _, w := range c.Warnings {
				if strings.Contains(w, "\n") || strings.Contains(w, "evil") {
					t.Errorf("warning %q must be one line and must not echo the value", w)
				}
			}
		})
	}
}

func TestRequireToken(t *testing.T) {
	c, err := Load(Source{WorkDir: t.TempDir()}, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.RequireToken()
	if !errors.Is(err, ErrNoToken) {
		t.Fatalf("RequireToken = %v, want ErrNoToken", err)
	}
	for _, s := range []string{"--token", "ASANA_PAT"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}

func TestRequireTokenShape(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		flag    string
		want    string // the token kept; "" when an error is expected
		wantErr string
	}{
		{name: "plain", env: map[string]string{"ASANA_PAT": "2/1234/5678:abcd"}, want: "2/1234/5678:abcd"},
		{name: "trailing line break", env: map[string]string{"ASANA_PAT": "2/1234/5678:abcd\n"}, want: "2/1234/5678:abcd"},
		{name: "spaces around", flag: "  2/1234/5678:abcd ", want: "2/1234/5678:abcd"},
		{name: "line break inside", env: map[string]string{"ASANA_PAT": "2/1234\n5678:abcd"}, wantErr: "the token from ASANA_PAT contains a space or a control character"},
		{name: "space inside", flag: "2/1234 5678:abcd", wantErr: "the token from --token contains a space"},
		{name: "escape character", env: map[string]string{"TEMP_PAT": "2/1234\x1b5678"}, wantErr: "the token from TEMP_PAT contains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(Source{WorkDir: t.TempDir(), Getenv: envFunc(tt.env)}, Flags{Token: tt.flag})
			if err != nil {
				t.Fatal(err)
			}
			err = c.RequireToken()
			if tt.wantErr == "" {
				if err != nil || c.Token != tt.want {
					t.Errorf("token %q, RequireToken = %v; want %q and no error", c.Token, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("RequireToken = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "5678") {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}

func TestValidateAPIURL(t *testing.T) {
	tests := []struct {
		raw     string
		want    string
		wantErr string
	}{
		{raw: "https://app.asana.com/api/1.0/", want: "https://app.asana.com/api/1.0"},
		{raw: "https://proxy.example.com", want: "https://proxy.example.com"},
		{raw: "http://127.0.0.1:8080/api/1.0", want: "http://127.0.0.1:8080/api/1.0"},
		{raw: "http://127.5.6.7:1", want: "http://127.5.6.7:1"},
		{raw: "http://[::1]:9/x", want: "http://[::1]:9/x"},
		{raw: "http://LOCALHOST:9", want: "http://LOCALHOST:9"},
		{raw: "http://example.com/api", wantErr: "plain http is allowed only to a loopback host"},
		{raw: "http://10.0.0.1", wantErr: "plain http is allowed only to a loopback host"},
		{raw: "http://localhost.evil.com", wantErr: "plain http is allowed only to a loopback host"},
		{raw: "ftp://127.0.0.1", wantErr: "want an http or https URL"},
		{raw: "app.asana.com/api", wantErr: "want an absolute URL"},
		{raw: "https://user:pw@example.com", wantErr: "credentials in the URL"},
		{raw: "https://example.com/?x=1", wantErr: "without query"},
		{raw: "://", wantErr: "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ValidateAPIURL(tt.raw, "--api-url")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ValidateAPIURL(%q) = %q, %v; want error containing %q", tt.raw, got, err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "--api-url ") {
					t.Errorf("error %q does not name its source", err)
				}
				if strings.Contains(err.Error(), "pw@") {
					t.Errorf("error %q echoes credentials", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ValidateAPIURL(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestDataDir(t *testing.T) {
	work := t.TempDir()
	tests := []struct {
		name  string
		env   map[string]string
		flags Flags
		want  string
	}{
		{name: "flag", flags: Flags{DataDir: "/flag/dir"}, env: map[string]string{"ASANA_WEBHOOKS_DATA_DIR": "/env/dir"}, want: "/flag/dir"},
		{name: "env", env: map[string]string{"ASANA_WEBHOOKS_DATA_DIR": "/env/dir", "HOME": "/home/u"}, want: "/env/dir"},
		{name: "relative flag", flags: Flags{DataDir: "data"}, want: filepath.Join(work, "data")},
		{name: "xdg", env: map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}, want: "/xdg/asana-webhooks"},
		{name: "relative xdg ignored", env: map[string]string{"XDG_DATA_HOME": "xdg", "HOME": "/home/u"}, want: "/home/u/.local/share/asana-webhooks"},
		{name: "home", env: map[string]string{"HOME": "/home/u"}, want: "/home/u/.local/share/asana-webhooks"},
		{name: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(Source{Getenv: envFunc(tt.env), WorkDir: work}, tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			if c.DataDir != tt.want {
				t.Errorf("DataDir = %q, want %q", c.DataDir, tt.want)
			}
		})
	}
}

func TestEnsureDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	c := &Config{DataDir: dir}
	got, err := c.EnsureDataDir()
	if err != nil || got != dir {
		t.Fatalf("EnsureDataDir = %q, %v", got, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("mode = %o, want 700", perm)
	}
	if _, err := (&Config{}).EnsureDataDir(); err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("EnsureDataDir with no dir = %v, want an error naming --data-dir", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	under := filepath.Join(file, "asana-webhooks")
	_, err = (&Config{DataDir: under}).EnsureDataDir()
	want := "create data directory " + under + " (set --data-dir or ASANA_WEBHOOKS_DATA_DIR to choose another): mkdir " + file + ": not a directory"
	if err == nil || err.Error() != want {
		t.Errorf("EnsureDataDir under a file = %v, want %q", err, want)
	}
}

func TestDotEnvErrorsDoNotLeakValues(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"unterminated", "ASANA_PAT=\"supersecret\n", "not terminated"},
		{"bad name", "ASANA-PAT=supersecret\n", "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeDotEnv(t, dir, tt.content)
			_, err := Load(Source{WorkDir: dir}, Flags{})
			if err == nil {
				t.Fatal("Load succeeded on a malformed .env")
			}
			if strings.Contains(err.Error(), "supersecret") {
				t.Errorf("error %q leaks the file content", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEnvLookup(t *testing.T) {
	dir := t.TempDir()
	writeDotEnv(t, dir, "ASANA_INSPECT_LISTEN=127.0.0.1:1\nASANA_DEMO_ONCE=true\nASANA_API_URL=https://evil.example\nASANA_INSPECT_UI_ALLOW_REMOTE=true\n")
	env := NewEnv(Source{WorkDir: dir, Getenv: envFunc(map[string]string{"ASANA_INSPECT_LISTEN": "127.0.0.1:2"})})
	tests := []struct {
		name, value, from string
	}{
		{"ASANA_INSPECT_LISTEN", "127.0.0.1:2", "ASANA_INSPECT_LISTEN"}, // environment beats .env
		{"ASANA_DEMO_ONCE", "true", ".env ASANA_DEMO_ONCE"},
		{"ASANA_API_URL", "", ""}, // never from .env
		{"ASANA_INSPECT_UI_ALLOW_REMOTE", "", ""},
		{"ASANA_UNSET", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, from, err := env.Lookup(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if v != tt.value || from != tt.from {
				t.Errorf("Lookup(%s) = %q from %q, want %q from %q", tt.name, v, from, tt.value, tt.from)
			}
		})
	}
}

func TestEnvLookupBadDotEnv(t *testing.T) {
	dir := t.TempDir()
	writeDotEnv(t, dir, "ASANA_PAT=\"secret-token\n")
	env := NewEnv(Source{WorkDir: dir, Getenv: envFunc(map[string]string{"ASANA_SET": "x"})})
	if v, _, err := env.Lookup("ASANA_SET"); err != nil || v != "x" {
		t.Fatalf("a variable in the environment should not need .env: %q, %v", v, err)
	}
	_, _, err := env.Lookup("ASANA_OTHER")
	if err == nil {
		t.Fatal("want an error for a malformed .env")
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %q quotes the file", err)
	}
}

// TestDotEnvUnreadable checks that a .env that cannot be read is reported
// as such, with its path, and not as a syntax error.
func TestDotEnvUnreadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DotEnvFile)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Source{WorkDir: dir, Getenv: envFunc(nil)}, Flags{})
	if err == nil {
		t.Fatal("Load succeeded with a directory as .env")
	}
	if want := "read " + path + ": is a directory"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}
