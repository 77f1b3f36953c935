package cli

import (
	"github.com/asana-webhooks/asana-webhooks/asana"
)

// UserAgent is the User-Agent the API client sends.
func (a *App) UserAgent() string { return "asana-webhooks/" + a.Version }

// Client returns an API client built from the configuration. The token is
// checked first: when it is missing the error is a one-line configuration
// error naming --token and ASANA_PAT (exit 2). An invalid API URL is also a
// configuration error.
func (a *App) Client() (*asana.Client, error) {
	cfg, err := a.Config()
	if err != nil {
		return nil, err
	}
	if err := cfg.RequireToken(); err != nil {
		return nil, &configError{err: err}
	}
	base, err := cfg.BaseURL()
	if err != nil {
		return nil, &configError{err: err}
	}
	return asana.NewClient(cfg.Token,
		asana.WithBaseURL(base),
		asana.WithUserAgent(a.UserAgent()),
	), nil
}
