package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/asana-webhooks/asana-webhooks/internal/config"
)

// Every flag has an environment variable. Its name is kept in the flag's
// annotations: set explicitly with setFlagEnv where a name predates this
// scheme (the globals, emulate's ASANA_EMULATOR_*), otherwise derived from
// the command path and the flag: ASANA_<COMMAND>[_<SUBCOMMAND>]_<FLAG>, for
// example ASANA_INSPECT_PUBLIC_URL or ASANA_WEBHOOKS_CREATE_PRINT_SECRET.
//
// Before a command runs, applyEnv gives each flag the user did not set the
// value of its variable: the environment first, then .env (config.Env, which
// never reads ASANA_API_URL or ASANA_INSPECT_UI_ALLOW_REMOTE from .env).
// Repeatable flags take comma-separated values, booleans true/false/1/0. A
// value that does not parse is a configuration error naming the variable.
const (
	// annotationEnv holds a flag's variable names, the first one preferred.
	annotationEnv = "asana-webhooks/env"
	// annotationEnvByConfig marks the global flags that config.Load resolves
	// itself, because it also records where the token and API URL came from.
	annotationEnvByConfig = "asana-webhooks/env-by-config"
)

// setFlagEnv names the environment variables of the flag called name in fs.
func setFlagEnv(fs *pflag.FlagSet, name string, vars ...string) {
	if f := fs.Lookup(name); f != nil {
		setAnnotation(f, annotationEnv, vars)
	}
}

func setAnnotation(f *pflag.Flag, key string, values []string) {
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[key] = values
}

// flagEnv returns the variable names of f, none if it has no variable.
func flagEnv(f *pflag.Flag) []string { return f.Annotations[annotationEnv] }

// derivedEnvName is the variable of a flag defined on cmd when none was set:
// ASANA_ and the command path without the program name, then the flag name,
// upper case with - turned into _.
func derivedEnvName(cmd *cobra.Command, flag string) string {
	var parts []string
	for c := cmd; c.HasParent(); c = c.Parent() {
		parts = append([]string{c.Name()}, parts...)
	}
	parts = append(append([]string{"ASANA"}, parts...), flag)
	return strings.ToUpper(strings.ReplaceAll(strings.Join(parts, "_"), "-", "_"))
}

// annotateEnv gives every flag defined in the tree under cmd a variable (the
// derived one unless named already) and adds it to the flag's help text.
func annotateEnv(cmd *cobra.Command) {
	visit := func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		if len(flagEnv(f)) == 0 {
			setAnnotation(f, annotationEnv, []string{derivedEnvName(cmd, f.Name)})
		}
		f.Usage = withEnvNote(f)
	}
	// Before parsing, Flags holds only the command's own flags; a parent's
	// persistent flag met here again is already annotated.
	cmd.Flags().VisitAll(visit)
	cmd.PersistentFlags().VisitAll(visit)
	for _, sub := range cmd.Commands() {
		annotateEnv(sub)
	}
}

// withEnvNote returns f's usage with "(env NAME)" before any "(default ...)"
// written into it, once.
func withEnvNote(f *pflag.Flag) string {
	vars := flagEnv(f)
	if len(vars) == 0 || strings.Contains(f.Usage, "(env ") {
		return f.Usage
	}
	note := "(env " + strings.Join(vars, " or ")
	if !config.FromDotEnv(vars[0]) {
		note += ", never from .env"
	}
	note += ")"
	if i := strings.Index(f.Usage, " (default"); i >= 0 {
		return f.Usage[:i] + " " + note + f.Usage[i:]
	}
	return f.Usage + " " + note
}

// applyEnv sets every flag of cmd that was not given on the command line
// from its variable. It runs before the command (the root's
// PersistentPreRunE). A value taken from the environment does not count as
// given (Flag.Changed stays false), so a command's own defaults and checks
// of explicit flags behave as before.
func (a *App) applyEnv(cmd *cobra.Command) error {
	env := config.NewEnv(config.Source{Getenv: a.Getenv, WorkDir: a.WorkDir})
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Annotations[annotationEnvByConfig] != nil {
			return
		}
		for _, name := range flagEnv(f) {
			v, from, lerr := env.Lookup(name)
			if lerr != nil {
				err = &configError{err: lerr}
				return
			}
			if v == "" {
				continue
			}
			err = setFlagFromEnv(f, from, v)
			return
		}
	})
	return err
}

// setFlagFromEnv sets f from the value v of the variable described by from
// ("NAME" or ".env NAME").
func setFlagFromEnv(f *pflag.Flag, from, v string) error {
	bad := func(reason string) error {
		shown := fmt.Sprintf(" %q", v)
		if strings.Contains(from, "TOKEN") || strings.Contains(from, "PAT") {
			shown = "" // may be a secret
		}
		return &configError{err: fmt.Errorf("%s: invalid value%s for --%s: %s", from, shown, f.Name, reason)}
	}
	v = strings.TrimSpace(v)
	switch val := f.Value.(type) {
	case *filterFlag:
		for _, item := range splitFilters(v) {
			if err := val.Set(item); err != nil {
				var fe *FilterError
				if errors.As(err, &fe) {
					return bad(fe.Reason)
				}
				return bad(err.Error())
			}
		}
		return nil
	case pflag.SliceValue:
		if err := val.Replace(splitList(v)); err != nil {
			return bad(valueWant(f, err))
		}
		return nil
	}
	if f.Value.Type() == "bool" {
		b, ok := parseEnvBool(v)
		if !ok {
			return bad("want true, false, 1 or 0")
		}
		v = strconv.FormatBool(b)
	}
	if err := f.Value.Set(v); err != nil {
		return bad(valueWant(f, err))
	}
	return nil
}

// parseEnvBool accepts true, false, 1 and 0, in any case.
func parseEnvBool(v string) (value, ok bool) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// splitList splits a comma-separated value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// splitFilters splits comma-separated filters whose own field lists are
// comma-separated too: a piece without a colon is one more field of the
// filter before it, so "task:changed:name,due_on,story:added" is two filters.
func splitFilters(v string) []string {
	var out []string
	for _, item := range splitList(v) {
		if !strings.Contains(item, ":") && len(out) > 0 {
			out[len(out)-1] += "," + item
			continue
		}
		out = append(out, item)
	}
	return out
}
