package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/app"
	"github.com/asana-webhooks/asana-webhooks/internal/config"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// InspectorDBFile is the inspector's database in the data directory.
const InspectorDBFile = "inspector.db"

type inspectOptions struct {
	publicURL      string
	resources      []string
	listen         string
	filters        []asana.Filter
	db             string
	keep           bool
	skipPreflight  bool
	json           bool
	verbose        bool
	healthInterval time.Duration
	uiListen       string
	uiAllowRemote  bool
	forwardTo      string
	replica        bool
}

func newInspectCmd(a *App) *cobra.Command {
	o := inspectOptions{listen: app.DefaultListen, healthInterval: inspector.DefaultHealthInterval}
	cmd := &cobra.Command{
		Use:   "inspect --public-url URL --resource GID",
		Short: "Receive a resource's webhook deliveries and show every event",
		Long: `Run the webhook inspector: a receiver on --listen, reached by Asana through
--public-url (a tunnel such as ngrok), and one webhook per --resource whose
target is <public-url>/hooks/<random id>?project=<gid>. Each webhook has its
own secret, kept in the inspector's database (--db); every delivery is verified
and stored before it is acknowledged, then shown here.

Before it creates anything, the inspector sends itself a request through the
public URL and stops if the tunnel does not reach it (--skip-preflight skips
this check). On start it deletes the webhooks earlier runs left in Asana,
except those kept with --keep on the same public URL, which it reuses, and
those of an inspector still running on the same database. A
health monitor reads each webhook from Asana every --health-interval, warns
about failed deliveries, retries, scheduled deletion and missing heartbeats,
and re-creates a webhook Asana deleted.

On Ctrl+C or SIGTERM it deletes exactly the webhooks this run created or
reused and exits 0 (with --keep it leaves them); a second Ctrl+C exits at once.

--resource defaults to ASANA_PROJECT and --workspace to ASANA_WORKSPACE, else
the project's own workspace. The original Webhook Inspector's invocation still
works: "inspect <ngrok-subdomain> <port>" uses https://<subdomain>.ngrok.io (a
value with a dot is taken as the full host) and listens on 127.0.0.1:<port>.

--json prints one JSON object per event on stdout, {"event": <as Asana sent
it>, "webhook", "hook_id", "received_at", "new"}, and one per heartbeat
{"heartbeat": true, ...}; everything else goes to stderr. -v adds each
delivery's headers, with X-Hook-Secret, X-Hook-Signature and Authorization
redacted: as lines on the terminal, or with --json as a "headers" object in
each JSON line. Secrets are never printed.

--forward-to URL makes the inspector a gateway to your own app, as the
Stripe CLI's listen --forward-to does: at each start it performs Asana's
handshake with URL (an empty POST with a new X-Hook-Secret, which the app
must echo with 200 or 204, as for Asana), then POSTs every delivery it stores,
heartbeats included, byte for byte, with an X-Hook-Signature computed with
that secret: code written for Asana's webhooks runs unchanged. Deliveries go
in order; one the app refuses is retried (1 s, 2 s, ... up to 1 min) and given
up after 24 h; what was not forwarded when the inspector stops is forwarded
at the next start. An app that is not up yet gets the handshake once it is;
one that answers 401 or 403 (it lost its secret) gets a new handshake.
"deliveries replay" sends stored deliveries again.

--replica runs this inspector as one of several behind one --public-url (a
load balancer) on one PostgreSQL --db: the first manages the webhooks, the
others only receive, and when it stops it leaves the webhooks to them; one
takes over within seconds, and the last one to stop deletes them.

The web UI (webhooks and their health, create, delete, a live feed of
events) is served on its own listener, --ui-listen, by default 127.0.0.1 on
the --listen port + 1; its URL is printed at start. It answers only to
loopback addresses: binding it elsewhere needs --ui-allow-remote. On the
public port, the original inspector's pages (/all_webhooks, /create_webhook,
/remove_all_webhooks) redirect a local browser to the UI.`,
		Example: `  # With ngrok forwarding https://abc.ngrok-free.app to port 8090
  asana-webhooks inspect --public-url https://abc.ngrok-free.app --resource 1200000000000002

  # Only task changes to name or due date, as JSON lines
  asana-webhooks inspect --public-url https://abc.ngrok-free.app --resource 1200000000000002 \
      --filter task:changed:name,due_on --json | jq .event.action

  # Forward every delivery to your app on port 3000, re-signed
  asana-webhooks inspect --public-url https://abc.ngrok-free.app --resource 1200000000000002 \
      --forward-to http://localhost:3000/asana/webhook

  # The original inspector's arguments (TEMP_PAT, ASANA_WORKSPACE, ASANA_PROJECT set)
  asana-webhooks inspect abc 8090`,
		Args: usageArgs(func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 && len(args) != 2 {
				return fmt.Errorf("want no arguments, or the legacy <ngrok-subdomain> <port>; got %d", len(args))
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			app.TuneGC(a.Getenv)
			return a.runInspect(cmd.Context(), cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.publicURL, "public-url", "", "public base URL that reaches --listen, e.g. https://abc.ngrok-free.app")
	f.StringArrayVar(&o.resources, "resource", nil, "resource gid to watch, repeatable (default ASANA_PROJECT)")
	f.StringVar(&o.listen, "listen", o.listen, "address the receiver listens on")
	f.Var(newFilterFlag(&o.filters), "filter", "webhook filter "+FilterSyntax+", repeatable")
	f.StringVar(&o.db, "db", "", "inspector database: a SQLite file, or a postgres:// URL (default <data dir>/"+InspectorDBFile+")")
	f.BoolVar(&o.keep, "keep", false, "leave the webhooks in Asana on exit, for the next run to reuse")
	f.BoolVar(&o.skipPreflight, "skip-preflight", false, "do not check that the public URL reaches this inspector")
	f.BoolVar(&o.json, "json", false, "print one JSON object per event and heartbeat on stdout")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "show each delivery's headers (secrets redacted) and debug logs")
	f.DurationVar(&o.healthInterval, "health-interval", o.healthInterval, "how often each webhook's health is read from Asana")
	f.StringVar(&o.uiListen, "ui-listen", "", "address of the web UI (default 127.0.0.1 on the --listen port + 1)")
	f.BoolVar(&o.uiAllowRemote, "ui-allow-remote", false, "allow --ui-listen on a non-loopback address (anyone who reaches it can delete webhooks)")
	f.StringVar(&o.forwardTo, "forward-to", "", "your app's webhook URL: forward every delivery to it, re-signed (see above)")
	f.BoolVar(&o.replica, "replica", false, "one of several inspectors behind --public-url on one PostgreSQL --db (see above)")
	return cmd
}

// checkPublicScheme refuses a plain http public URL when the API is not a
// local one: Asana delivers only to https, and would refuse the webhook
// after the preflight had passed. ngrok prints both URLs; the https one is
// needed.
func checkPublicScheme(publicURL, apiURL string) error {
	pu, err := url.Parse(publicURL)
	if err != nil || !strings.EqualFold(pu.Scheme, "http") {
		return nil
	}
	au, err := url.Parse(apiURL)
	if err != nil || config.IsLoopbackHost(au.Hostname()) {
		return nil // an emulator on this machine delivers to http
	}
	return usageErrorf("--public-url %s: Asana delivers only to https URLs; give the tunnel's https URL (plain http works only with a local emulator)", publicURL)
}

// loopbackHost reports whether a listen address's host is certainly
// loopback: localhost or a loopback IP. An empty host (every interface) is
// not; other names are left to the inspector, which resolves them.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host != "" // a name: decided when the UI listens
	}
	return ip.IsLoopback()
}

// legacyTarget turns the original inspector's <ngrok-subdomain> <port> into
// a public URL and a listen address.
func legacyTarget(sub, port string) (publicURL, listen string, err error) {
	sub = strings.TrimSpace(sub)
	if sub == "" || strings.ContainsAny(sub, "/:?#@ ") {
		return "", "", fmt.Errorf("ngrok subdomain %q: want a name such as abc (or a host such as abc.ngrok-free.app)", sub)
	}
	host := sub + ".ngrok.io"
	if strings.Contains(sub, ".") {
		host = sub // ngrok's hostnames changed: a dotted value is the full host
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	return "https://" + host, net.JoinHostPort("127.0.0.1", strconv.Itoa(n)), nil
}

func (a *App) runInspect(ctx context.Context, cmd *cobra.Command, o inspectOptions, args []string) error {
	if len(args) == 2 {
		if cmd.Flags().Changed("public-url") || cmd.Flags().Changed("listen") {
			return usageErrorf("the legacy <ngrok-subdomain> <port> arguments cannot be combined with --public-url or --listen")
		}
		pub, listen, err := legacyTarget(args[0], args[1])
		if err != nil {
			return usageErrorf("%v", err)
		}
		o.publicURL, o.listen = pub, listen
	}
	if o.publicURL == "" {
		return usageErrorf("--public-url is required (the URL of your tunnel, such as https://abc.ngrok-free.app)")
	}
	publicURL, err := app.ParsePublicURL(o.publicURL)
	if err != nil {
		// app's message starts "public URL": name the flag instead.
		return usageErrorf("--public-url%s", strings.TrimPrefix(err.Error(), "public URL"))
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return usageErrorf("--listen %q: want host:port, such as 127.0.0.1:8090", o.listen)
	}
	if o.uiListen != "" {
		host, _, err := net.SplitHostPort(o.uiListen)
		if err != nil {
			return usageErrorf("--ui-listen %q: want host:port, such as 127.0.0.1:8091", o.uiListen)
		}
		if !o.uiAllowRemote && !loopbackHost(host) {
			return usageErrorf("--ui-listen %s is not a loopback address: anyone who reaches it could create and delete webhooks; pass --ui-allow-remote to serve it there anyway", o.uiListen)
		}
	}
	if o.healthInterval <= 0 {
		return usageErrorf("--health-interval %s: want a positive duration such as 1m", o.healthInterval)
	}
	client, err := a.Client()
	if err != nil {
		return err
	}
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	if err := checkPublicScheme(publicURL, cfg.APIURL); err != nil {
		return err
	}
	if len(o.resources) == 0 && cfg.Project != "" {
		o.resources = []string{cfg.Project}
	}
	if len(o.resources) == 0 {
		return usageErrorf("--resource is required (or set ASANA_PROJECT)")
	}
	for _, r := range o.resources {
		if err := checkGID("--resource", r); err != nil {
			return err
		}
	}
	if cfg.Workspace != "" {
		if err := checkGID("--workspace", cfg.Workspace); err != nil {
			return err
		}
	}
	if o.db == "" {
		dir, err := a.DataDir()
		if err != nil {
			return err
		}
		o.db = filepath.Join(dir, InspectorDBFile)
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	in, err := app.New(app.Config{
		Client:         client,
		Resources:      o.resources,
		Workspace:      cfg.Workspace,
		Filters:        o.filters,
		PublicURL:      publicURL,
		Listen:         o.listen,
		DBPath:         o.db,
		Keep:           o.keep,
		SkipPreflight:  o.skipPreflight,
		JSON:           o.json,
		Verbose:        o.verbose,
		HealthInterval: o.healthInterval,
		UI:             true,
		UIListen:       o.uiListen,
		UIAllowRemote:  o.uiAllowRemote,
		ForwardTo:      o.forwardTo,
		Replica:        o.replica,
		Stdout:         a.Stdout,
		Stderr:         a.Stderr,
		Logger:         slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	return addrInUseHint(in.Run(ctx), o.listen)
}

// addrInUseHint adds to an "address already in use" error which flag chose
// the address, as emulate does for --addr.
func addrInUseHint(err error, listen string) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	flag := "--ui-listen"
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil && oe.Addr.String() == listen {
		flag = "--listen"
	}
	return fmt.Errorf("%w (is another inspector running? pick another %s)", err, flag)
}
