package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/config"
)

// treeFlag is one flag as defined on one command of the tree.
type treeFlag struct {
	command string // path without the program name; "" for the globals
	flag    *pflag.Flag
}

// allFlags walks the whole command tree and returns every flag where it is
// defined (a persistent flag once, on its command), except help.
func allFlags(t *testing.T) []treeFlag {
	t.Helper()
	root := NewApp(Env{}).rootCommand()
	var out []treeFlag
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), root.Name()))
		seen := map[string]bool{}
		visit := func(f *pflag.Flag) {
			if f.Name == "help" || seen[f.Name] {
				return
			}
			seen[f.Name] = true
			out = append(out, treeFlag{command: path, flag: f})
		}
		c.Flags().VisitAll(visit)
		c.PersistentFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(out) < 20 {
		t.Fatalf("found only %d flags in the command tree; the walk is broken", len(out))
	}
	return out
}

// readmeRow is one row of README.md's configuration table.
type readmeRow struct{ flag, vars, commands string }

// readmeConfigRows returns the rows of the first table under
// "## Configuration" in README.md.
func readmeConfigRows(t *testing.T) []readmeRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var rows []readmeRow
	header := true
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break // the first table only
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
			continue
		}
		if header {
			header = false
			continue
		}
		rows = append(rows, readmeRow{flag: cells[0], vars: cells[1], commands: cells[2]})
	}
	if len(rows) == 0 {
		t.Fatal("README.md's configuration section has no table rows")
	}
	return rows
}

var backticked = regexp.MustCompile("`([^`]*)`")

// codeWords returns the words inside backticks of s ("`-v, --verbose`"
// gives "-v," and "--verbose").
func codeWords(s string) map[string]bool {
	words := map[string]bool{}
	for _, m := range backticked.FindAllStringSubmatch(s, -1) {
		for _, w := range strings.Fields(m[1]) {
			words[strings.TrimSuffix(w, ",")] = true
		}
	}
	return words
}

// codeSpans returns the texts inside backticks of s.
func codeSpans(s string) map[string]bool {
	spans := map[string]bool{}
	for _, m := range backticked.FindAllStringSubmatch(s, -1) {
		spans[m[1]] = true
	}
	return spans
}

// TestEveryFlagHasEnvAndIsDocumented keeps the habit true: every flag of
// every command has an environment variable, and README.md's configuration
// table has a row with the flag, its variables and its command.
func TestEveryFlagHasEnvAndIsDocumented(t *testing.T) {
	rows := readmeConfigRows(t)
	for _, tf := range allFlags(t) {
		where := tf.command
		if where == "" {
			where = "(global)"
		}
		t.Run(where+" --"+tf.flag.Name, func(t *testing.T) {
			vars := flagEnv(tf.flag)
			if len(vars) == 0 {
				t.Fatalf("--%s of %q has no environment variable", tf.flag.Name, where)
			}
			if !strings.Contains(tf.flag.Usage, "(env "+vars[0]) {
				t.Errorf("help of --%s does not name %s: %q", tf.flag.Name, vars[0], tf.flag.Usage)
			}
			for _, r := range rows {
				if !codeWords(r.flag)["--"+tf.flag.Name] {
					continue
				}
				got := codeSpans(r.vars)
				// A global flag's row is the one with its variable; any
				// other flag's row names its command.
				if tf.command == "" && !got[vars[0]] || tf.command != "" && !codeSpans(r.commands)[tf.command] {
					continue
				}
				for _, v := range vars {
					if !got[v] {
						t.Errorf("README row for --%s (%s) lacks variable %s: %q", tf.flag.Name, where, v, r.vars)
					}
				}
				return
			}
			t.Errorf("README.md's configuration table has no row for --%s with command `%s` (variable %s)",
				tf.flag.Name, tf.command, strings.Join(vars, ", "))
		})
	}
}

// TestDerivedEnvNames pins the naming scheme of the variables.
func TestDerivedEnvNames(t *testing.T) {
	got := map[string]string{}
	for _, tf := range allFlags(t) {
		got[strings.TrimSpace(tf.command+" --"+tf.flag.Name)] = strings.Join(flagEnv(tf.flag), " ")
	}
	want := map[string]string{
		"--token":                        "ASANA_PAT TEMP_PAT",
		"--api-url":                      "ASANA_API_URL",
		"--data-dir":                     "ASANA_WEBHOOKS_DATA_DIR",
		"inspect --public-url":           "ASANA_INSPECT_PUBLIC_URL",
		"inspect --ui-allow-remote":      config.EnvInspectUIAllowRemote,
		"webhooks create --print-secret": "ASANA_WEBHOOKS_CREATE_PRINT_SECRET",
		"deliveries --db":                "ASANA_DELIVERIES_DB",
		"emulate --token":                "ASANA_EMULATOR_TOKENS",
		"emulate --rate-limit":           "ASANA_EMULATOR_RATE_LIMIT",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: variable %q, want %q", k, got[k], v)
		}
	}
}

// probe is a command added to the real tree to observe what applyEnv sets.
type probe struct {
	name    string
	on      bool
	list    []string
	ints    []int
	filters []asana.Filter
	remote  bool
	apiURL  string
}

// runProbe runs "probe args..." through the real root with env and a .env
// file holding dotenv.
func runProbe(t *testing.T, env map[string]string, dotenv string, args ...string) (probe, result) {
	t.Helper()
	dir := t.TempDir()
	if dotenv != "" {
		if err := os.WriteFile(filepath.Join(dir, config.DotEnvFile), []byte(dotenv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr syncBuffer
	a := NewApp(Env{Stdout: &stdout, Stderr: &stderr, WorkDir: dir, Getenv: func(k string) string { return env[k] }})
	root := a.rootCommand()
	var p probe
	cmd := &cobra.Command{
		Use: "probe",
		RunE: func(*cobra.Command, []string) error {
			cfg, err := a.Config()
			if err != nil {
				return err
			}
			p.apiURL = cfg.APIURL
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.name, "name", "default", "a string")
	f.BoolVar(&p.on, "on", false, "a boolean")
	f.StringArrayVar(&p.list, "item", nil, "repeatable")
	f.IntSliceVar(&p.ints, "n", nil, "numbers")
	f.Var(newFilterFlag(&p.filters), "filter", "filters")
	f.BoolVar(&p.remote, "remote", false, "like --ui-allow-remote")
	setFlagEnv(f, "remote", config.EnvInspectUIAllowRemote)
	root.AddCommand(cmd)
	annotateEnv(root)
	a.markRuns(root)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := a.execute(ctx, root, append([]string{"probe"}, args...))
	return p, result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func TestEnvPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		dotenv string
		args   []string
		want   probe
	}{
		{
			name: "default",
			want: probe{name: "default"},
		},
		{
			name:   "flag beats env beats .env",
			env:    map[string]string{"ASANA_PROBE_NAME": "env", "ASANA_PROBE_ON": "0"},
			dotenv: "ASANA_PROBE_NAME=dot\nASANA_PROBE_ON=1\nASANA_PROBE_ITEM=a,b\n",
			args:   []string{"--name", "flag"},
			want:   probe{name: "flag", on: false, list: []string{"a", "b"}},
		},
		{
			name:   "env beats .env",
			env:    map[string]string{"ASANA_PROBE_NAME": "env"},
			dotenv: "ASANA_PROBE_NAME=dot\n",
			want:   probe{name: "env"},
		},
		{
			name:   ".env when the environment is silent",
			dotenv: "ASANA_PROBE_NAME=dot\nASANA_PROBE_ON=true\n",
			want:   probe{name: "dot", on: true},
		},
		{
			name: "lists are comma-separated and replace the default",
			env:  map[string]string{"ASANA_PROBE_ITEM": " x , y,,z", "ASANA_PROBE_N": "1,16"},
			want: probe{name: "default", list: []string{"x", "y", "z"}, ints: []int{1, 16}},
		},
		{
			name: "a repeated flag beats its variable",
			env:  map[string]string{"ASANA_PROBE_ITEM": "env"},
			args: []string{"--item", "p", "--item", "q"},
			want: probe{name: "default", list: []string{"p", "q"}},
		},
		{
			name: "filters split where a piece has a colon",
			env:  map[string]string{"ASANA_PROBE_FILTER": "task:changed:name,due_on,story:added"},
			want: probe{name: "default", filters: []asana.Filter{
				{ResourceType: "task", Action: "changed", Fields: []string{"name", "due_on"}},
				{ResourceType: "story", Action: "added"},
			}},
		},
		{
			name:   "the UI's remote switch is never taken from .env",
			dotenv: config.EnvInspectUIAllowRemote + "=true\n",
			want:   probe{name: "default"},
		},
		{
			name: "the UI's remote switch from the environment",
			env:  map[string]string{config.EnvInspectUIAllowRemote: "1"},
			want: probe{name: "default", remote: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res := runProbe(t, tt.env, tt.dotenv, tt.args...)
			if res.code != ExitOK {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			got.apiURL = ""
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(probe{})); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDotEnvCannotSetAPIURL(t *testing.T) {
	got, res := runProbe(t, nil, "ASANA_API_URL=http://127.0.0.1:1/steal\n")
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if got.apiURL != config.DefaultAPIURL {
		t.Errorf("API URL %q, want the default %q", got.apiURL, config.DefaultAPIURL)
	}
	if !strings.Contains(res.stderr, "ignoring ASANA_API_URL in .env") {
		t.Errorf("stderr %q lacks the warning", res.stderr)
	}
	got, res = runProbe(t, map[string]string{"ASANA_API_URL": "http://127.0.0.1:2/api"}, "ASANA_API_URL=http://127.0.0.1:1/steal\n")
	if res.code != ExitOK || got.apiURL != "http://127.0.0.1:2/api" {
		t.Errorf("from the environment: exit %d, API URL %q", res.code, got.apiURL)
	}
}

// TestBadEnvValue runs real commands: a variable that does not parse stops
// the command before it starts, with exit 2 and one line naming it.
func TestBadEnvValue(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		dotenv string
		args   []string
		want   string
	}{
		{"bool", map[string]string{"ASANA_INSPECT_KEEP": "maybe"}, "", []string{"inspect"}, `ASANA_INSPECT_KEEP: invalid value "maybe" for --keep: want true, false, 1 or 0`},
		{"duration", map[string]string{"ASANA_INSPECT_HEALTH_INTERVAL": "soon"}, "", []string{"inspect"}, `ASANA_INSPECT_HEALTH_INTERVAL: invalid value "soon" for --health-interval: want a duration such as 500ms, 5s, 1m30s or 2h`},
		{"int", map[string]string{"ASANA_EMULATOR_RATE_LIMIT": "many"}, "", []string{"emulate"}, `ASANA_EMULATOR_RATE_LIMIT: invalid value "many" for --rate-limit: want a whole number`},
		{"int list", map[string]string{"ASANA_BENCH_CONCURRENCY": "1,x"}, "", []string{"bench"}, `ASANA_BENCH_CONCURRENCY: invalid value "1,x" for --concurrency: want comma-separated whole numbers, such as 1,16,64`},
		{"filter", map[string]string{"ASANA_WEBHOOKS_CREATE_FILTER": "task:explode"}, "", []string{"webhooks", "create"}, "ASANA_WEBHOOKS_CREATE_FILTER"},
		{"in .env", nil, "ASANA_DEMO_ONCE=perhaps\n", []string{"demo"}, ".env ASANA_DEMO_ONCE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.dotenv != "" {
				if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(tt.dotenv), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			res := run(t, invocation{env: tt.env, dir: dir, args: tt.args})
			if res.code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", res.code, ExitUsage, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr %q lacks %q", res.stderr, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(res.stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("the command ran: stdout %q", res.stdout)
			}
		})
	}
}

// TestEnvReachesCommand checks a real command end to end: webhooks list
// with its --json and --resource given by variables.
func TestEnvReachesCommand(t *testing.T) {
	fake := newFakeAsana(t, map[string]http.HandlerFunc{"GET /webhooks": pagedWebhooks(t)})
	env := map[string]string{
		"ASANA_PAT": "tok", "ASANA_API_URL": fake.URL, "ASANA_WORKSPACE": "1",
		"ASANA_WEBHOOKS_LIST_JSON": "1", "ASANA_WEBHOOKS_LIST_RESOURCE": "77",
	}
	res := run(t, invocation{env: env, args: []string{"webhooks", "list"}})
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	for _, l := range lines(res.stdout) {
		var h asana.Webhook
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("line %q is not JSON: ASANA_WEBHOOKS_LIST_JSON was not applied", l)
		}
	}
	reqs := fake.seen()
	if len(reqs) == 0 {
		t.Fatal("no request reached the fake Asana")
	}
	q, _ := url.ParseQuery(reqs[len(reqs)-1].Query)
	if q.Get("resource") != "77" {
		t.Errorf("query %q, want resource=77 from ASANA_WEBHOOKS_LIST_RESOURCE", reqs[len(reqs)-1].Query)
	}
}

func TestHelpShowsEnv(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"(env ASANA_API_URL, never from .env)", "(env ASANA_PAT or TEMP_PAT)"}},
		{[]string{"inspect", "--help"}, []string{"(env ASANA_INSPECT_PUBLIC_URL)", "(env ASANA_INSPECT_LISTEN) (default"}},
		{[]string{"emulate", "--help"}, []string{"(env ASANA_EMULATOR_TOKENS)"}},
		{[]string{"deliveries", "list", "--help"}, []string{"(env ASANA_DELIVERIES_DB)", "(env ASANA_DELIVERIES_LIST_LIMIT)"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := run(t, invocation{args: tt.args})
			if res.code != ExitOK {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("help lacks %q", w)
				}
			}
		})
	}
}

func TestSplitFilters(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"task:added", []string{"task:added"}},
		{"task:changed:name,due_on", []string{"task:changed:name,due_on"}},
		{"task:changed:name, due_on ,story:added,", []string{"task:changed:name,due_on", "story:added"}},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, splitFilters(tt.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
