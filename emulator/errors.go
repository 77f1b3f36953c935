package emulator

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
)

// helpText is the help of every error, as Asana words it.
const helpText = "For more information on API status codes and how to handle them, read the docs on errors: https://developers.asana.com/docs/errors"

// Messages Asana uses verbatim.
const (
	msgNotAuthorized   = "Not Authorized"
	msgNoRoute         = "No matching route for request"
	msgRateLimited     = "You've made too many requests and hit a rate limit. Please retry after the given amount of time."
	msgConcurrency     = "You have too many concurrent requests in flight. Please retry after the given amount of time."
	msgDuplicate       = "Duplicated webhook. You already have an existing webhook for the given resource and target. Delete the old one before creating another."
	msgLargerScoped    = "Webhooks for larger scoped resources must have at least one filter and all filters must be in our whitelist."
	codeLargerScoped   = "invalid_filters_for_larger_scoped_webhooks"
	msgSyncInvalid     = "Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch the full dataset for this query now and use the new sync token for the next sync."
	msgServerError     = "Server Error"
	msgBodyTooLarge    = "Request body too large"
	msgGetWithBody     = "GET requests must not include a body"
	msgInvalidJSON     = "Could not parse request data, invalid JSON"
	msgInvalidRequest  = "Request data must be a JSON object"
	msgDataNotObject   = "data: must be an object"
	msgOptionsNotObjct = "options: must be an object"
)

// apiError is an error answered with Asana's envelope.
type apiError struct {
	status      int
	message     string
	code        string // the envelope's "error" key
	userMessage string
	sync        string // the 412's top-level sync
	retryAfter  int    // seconds, for 429
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.message) }

// errorf returns an apiError with a formatted message.
func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, message: fmt.Sprintf(format, args...)}
}

func missingInput(field string) *apiError {
	return errorf(http.StatusBadRequest, "%s: Missing input", field)
}

func notFound(gid string) *apiError {
	return errorf(http.StatusNotFound, "Unknown object: %s", gid)
}

func notRecognized(field, gid string) *apiError {
	return errorf(http.StatusBadRequest, "%s: Not a recognized ID: %s", field, gid)
}

type errorDetail struct {
	Message     string `json:"message"`
	Help        string `json:"help"`
	Phrase      string `json:"phrase,omitempty"`
	Error       string `json:"error,omitempty"`
	UserMessage string `json:"user_message,omitempty"`
}

type errorEnvelope struct {
	Errors []errorDetail `json:"errors"`
	Sync   string        `json:"sync,omitempty"`
}

// envelope renders e as Asana's error body.
func (e *apiError) envelope() errorEnvelope {
	d := errorDetail{Message: e.message, Help: helpText, Error: e.code, UserMessage: e.userMessage}
	if e.status >= 500 {
		d.Phrase = phrase()
	}
	return errorEnvelope{Errors: []errorDetail{d}, Sync: e.sync}
}

var (
	phraseNums  = []string{"2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}
	phraseAdjs  = []string{"sad", "happy", "sleepy", "grumpy", "brave", "shy", "fuzzy", "tiny", "giant", "quiet"}
	phraseNouns = []string{"squid", "otters", "pandas", "robots", "llamas", "koalas", "tigers", "herons", "moles", "yaks"}
	phraseVerbs = []string{"snuggle", "dance", "juggle", "whistle", "wander", "giggle", "ponder", "sing", "nap", "skate"}
	phraseAdvs  = []string{"softly", "loudly", "gently", "boldly", "calmly", "wildly", "slowly", "quickly", "oddly", "warmly"}
)

// phrase returns a random support phrase like Asana's "6 sad squid snuggle
// softly".
func phrase() string {
	pick := func(xs []string) string {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(xs))))
		if err != nil {
			return xs[0]
		}
		return xs[n.Int64()]
	}
	return pick(phraseNums) + " " + pick(phraseAdjs) + " " + pick(phraseNouns) + " " + pick(phraseVerbs) + " " + pick(phraseAdvs)
}
