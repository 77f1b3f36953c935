// Package config resolves the settings of the asana-webhooks command from, in
// order of precedence, command-line flags, the process environment and a .env
// file in the working directory. It never changes the process environment.
//
// One setting is deliberately narrower: the API URL comes only from a flag or
// the real environment, never from .env, so that the .env of a cloned
// repository cannot send the user's token to another server.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/joho/godotenv"
)

// Environment variables read by Load.
const (
	EnvToken       = "ASANA_PAT"
	EnvLegacyToken = "TEMP_PAT" // the original Webhook Inspector's name
	EnvWorkspace   = "ASANA_WORKSPACE"
	EnvProject     = "ASANA_PROJECT"
	EnvAPIURL      = "ASANA_API_URL"
	EnvDataDir     = "ASANA_WEBHOOKS_DATA_DIR"
)

// DotEnvFile is the name of the file read from the working directory.
const DotEnvFile = ".env"

// EnvInspectUIAllowRemote lets the inspector's web UI, which can delete
// webhooks, listen beyond loopback; like EnvAPIURL it is never read from .env.
const EnvInspectUIAllowRemote = "ASANA_INSPECT_UI_ALLOW_REMOTE"

// envOnly lists the variables taken only from the real environment: each can
// send the token elsewhere or open the inspector to others, so the .env of a
// cloned repository must not set it.
var envOnly = [...]string{EnvAPIURL, EnvInspectUIAllowRemote}

// FromDotEnv reports whether the variable name may be read from .env.
func FromDotEnv(name string) bool {
	for _, n := range envOnly {
		if n == name {
			return false
		}
	}
	return true
}

// Env looks variables up the way every setting is resolved: the process
// environment first, then .env (read on first need, at most once), except
// for the variables FromDotEnv refuses. Flags, which beat both, are the
// caller's business. An Env is used by one goroutine.
type Env struct {
	src    Source
	dot    map[string]string
	dotErr error
	read   bool
}

// NewEnv returns an Env reading from src.
func NewEnv(src Source) *Env { return &Env{src: src} }

// Lookup returns the value of name and where it came from: name itself for
// the environment, ".env NAME" for the file. An empty value means unset. The
// error is about an unreadable or malformed .env.
func (e *Env) Lookup(name string) (value, from string, err error) {
	if e.src.Getenv != nil {
		if v := e.src.Getenv(name); v != "" {
			return v, name, nil
		}
	}
	if !FromDotEnv(name) {
		return "", "", nil
	}
	if !e.read {
		e.read = true
		e.dot, e.dotErr = readDotEnv(e.src.WorkDir)
	}
	if e.dotErr != nil {
		return "", "", e.dotErr
	}
	if v := e.dot[name]; v != "" {
		return v, DotEnvFile + " " + name, nil
	}
	return "", "", nil
}

// DefaultAPIURL is the production Asana API.
const DefaultAPIURL = "https://app.asana.com/api/1.0"

// ErrNoToken is returned by Config.RequireToken when no source gave a token.
// Its message is the single line the CLI prints.
var ErrNoToken = errors.New("no Asana token: pass --token or set ASANA_PAT (in the environment or in .env)")

// Source is where Load reads from besides flags.
type Source struct {
	// Getenv reads the process environment; nil means an empty environment.
	Getenv func(string) string
	// WorkDir is the directory whose .env is read; empty means none is read.
	WorkDir string
}

// Flags holds the values given on the command line; empty means not given.
type Flags struct {
	Token     string
	APIURL    string
	Workspace string
	Project   string
	DataDir   string
}

// Config is the resolved configuration.
type Config struct {
	// Token is the Asana personal access token. It is never printed.
	Token string
	// TokenSource names where the token came from ("--token", "ASANA_PAT",
	// ".env TEMP_PAT"...), for messages that must not show the token.
	TokenSource string
	// APIURL is the API base URL as given; it is validated by BaseURL.
	APIURL string
	// APIURLSource names where APIURL came from ("--api-url", "ASANA_API_URL"
	// or "default").
	APIURLSource string
	// Workspace is the default workspace gid, possibly empty.
	Workspace string
	// Project is the default resource gid of create and events, possibly empty.
	Project string
	// DataDir is the absolute data directory; it is created by EnsureDataDir.
	DataDir string
	// Warnings are one-line messages the caller should print once.
	Warnings []string
}

// Load resolves the configuration. It fails only when .env exists but cannot
// be read or parsed; missing or invalid values are reported later, by
// RequireToken, BaseURL and EnsureDataDir, so that the token is always
// checked first.
func Load(src Source, fl Flags) (*Config, error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	dot, err := readDotEnv(src.WorkDir)
	if err != nil {
		return nil, err
	}
	c := &Config{}

	// Token: flag, then the environment, then .env; ASANA_PAT before the
	// original app's TEMP_PAT within each layer.
	switch {
	case fl.Token != "":
		c.Token, c.TokenSource = fl.Token, "--token"
	case getenv(EnvToken) != "":
		c.Token, c.TokenSource = getenv(EnvToken), EnvToken
	case getenv(EnvLegacyToken) != "":
		c.Token, c.TokenSource = getenv(EnvLegacyToken), EnvLegacyToken
	case dot[EnvToken] != "":
		c.Token, c.TokenSource = dot[EnvToken], DotEnvFile+" "+EnvToken
	case dot[EnvLegacyToken] != "":
		c.Token, c.TokenSource = dot[EnvLegacyToken], DotEnvFile+" "+EnvLegacyToken
	}

	// A line break or a space around a pasted token is not part of it.
	c.Token = strings.TrimSpace(c.Token)

	c.Workspace = pick(fl.Workspace, getenv(EnvWorkspace), dot[EnvWorkspace])
	c.Project = pick(fl.Project, getenv(EnvProject), dot[EnvProject])

	switch {
	case fl.APIURL != "":
		c.APIURL, c.APIURLSource = fl.APIURL, "--api-url"
	case getenv(EnvAPIURL) != "":
		c.APIURL, c.APIURLSource = getenv(EnvAPIURL), EnvAPIURL
	default:
		c.APIURL, c.APIURLSource = DefaultAPIURL, "default"
	}
	if _, ok := dot[EnvAPIURL]; ok {
		c.Warnings = append(c.Warnings, fmt.Sprintf(
			"ignoring %s in %s: the API URL is taken only from --api-url or the environment, so a .env file cannot send your token elsewhere",
			EnvAPIURL, DotEnvFile))
	}
	if _, ok := dot[EnvInspectUIAllowRemote]; ok {
		c.Warnings = append(c.Warnings, fmt.Sprintf(
			"ignoring %s in %s: opening the web UI beyond loopback is taken only from the flag or the environment",
			EnvInspectUIAllowRemote, DotEnvFile))
	}

	dataDir := pick(fl.DataDir, getenv(EnvDataDir), dot[EnvDataDir])
	if dataDir == "" {
		// XDG_DATA_HOME and HOME describe the user, not the project: they
		// come from the real environment only.
		switch {
		case filepath.IsAbs(getenv("XDG_DATA_HOME")):
			dataDir = filepath.Join(getenv("XDG_DATA_HOME"), "asana-webhooks")
		case getenv("HOME") != "":
			dataDir = filepath.Join(getenv("HOME"), ".local", "share", "asana-webhooks")
		}
	}
	if dataDir != "" && !filepath.IsAbs(dataDir) && src.WorkDir != "" {
		dataDir = filepath.Join(src.WorkDir, dataDir)
	}
	c.DataDir = dataDir
	return c, nil
}

// RequireToken returns ErrNoToken when no token was configured, and an
// error naming the token's source (never its value) when it holds a space
// or a control character, which no Asana token does and no HTTP header
// may carry.
func (c *Config) RequireToken() error {
	if c.Token == "" {
		return ErrNoToken
	}
	for _, r := range c.Token {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("the token from %s contains a space or a control character, which an Asana token never does (two values pasted together?)", c.TokenSource)
		}
	}
	return nil
}

// BaseURL validates APIURL and returns it without a trailing slash. It must be
// an absolute https URL, or a plain http URL to a loopback host (127.0.0.0/8,
// ::1 or localhost), because plain http elsewhere would expose the token.
func (c *Config) BaseURL() (string, error) {
	return ValidateAPIURL(c.APIURL, c.APIURLSource)
}

// ValidateAPIURL checks an API base URL; source names the flag or variable it
// came from, for the error message.
func ValidateAPIURL(raw, source string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") { // may hold credentials: do not echo
			return "", fmt.Errorf("%s: not a valid URL", source)
		}
		return "", fmt.Errorf("%s %q: not a valid URL", source, raw)
	}
	shown := u.Redacted()
	if u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%s %q: want an absolute URL such as %s", source, shown, DefaultAPIURL)
	}
	if u.User != nil {
		return "", fmt.Errorf("%s %q: credentials in the URL are not allowed; use --token", source, shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s %q: want a base URL without query or fragment", source, shown)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return "", fmt.Errorf("%s %q: plain http is allowed only to a loopback host (127.0.0.0/8, ::1, localhost); use https", source, shown)
		}
	default:
		return "", fmt.Errorf("%s %q: want an http or https URL", source, shown)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// IsLoopbackHost reports whether host (without port) is localhost or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 { // IPv6 zone
		host = host[:i]
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return net.ParseIP(host).IsLoopback()
	}
	return addr.IsLoopback()
}

// EnsureDataDir creates the data directory (mode 0700) if needed and returns
// its path.
func (c *Config) EnsureDataDir() (string, error) {
	if c.DataDir == "" {
		return "", fmt.Errorf("no data directory: set --data-dir or %s (HOME is not set)", EnvDataDir)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory %s (set --data-dir or %s to choose another): %w", c.DataDir, EnvDataDir, err)
	}
	return c.DataDir, nil
}

// readDotEnv parses WorkDir/.env into a map; a missing file is an empty map.
func readDotEnv(dir string) (map[string]string, error) {
	if dir == "" {
		return map[string]string{}, nil
	}
	path := filepath.Join(dir, DotEnvFile)
	// Read it whole first, so that a file that cannot be read (a directory,
	// say) is reported as such, not as a syntax error.
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	m, err := godotenv.UnmarshalBytes(b)
	if err != nil {
		// The parser quotes the offending text, which may be a token: keep
		// only the kind of mistake.
		return nil, fmt.Errorf("parse %s: %s", path, dotEnvProblem(err))
	}
	return m, nil
}

// dotEnvProblem describes a godotenv error without the file content it quotes.
func dotEnvProblem(err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "unterminated quoted value"):
		return "a quoted value is not terminated"
	case strings.HasPrefix(msg, "unexpected character"):
		return "a variable name has an invalid character (want letters, digits, _ or .)"
	case strings.HasPrefix(msg, "zero length string"):
		return "a line has no variable name"
	default:
		return "invalid syntax"
	}
}

// pick returns the first non-empty value.
func pick(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
