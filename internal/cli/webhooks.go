package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

func newWebhooksCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "List, show, create, update and delete webhooks",
		Long: `Manage the webhooks of your Asana token through the API.

Every subcommand needs a token (--token or ASANA_PAT). Output is a table or
aligned lines for people; --json prints one JSON object per line instead.`,
		Example: `  asana-webhooks webhooks list --workspace 1200000000000001
  asana-webhooks webhooks get 1200000000000042
  asana-webhooks webhooks create --resource 1200000000000002 --target https://example.com/hook
  asana-webhooks webhooks update 1200000000000042 --filter task:changed:name
  asana-webhooks webhooks delete 1200000000000042`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(
		newWebhooksListCmd(a),
		newWebhooksGetCmd(a),
		newWebhooksCreateCmd(a),
		newWebhooksUpdateCmd(a),
		newWebhooksDeleteCmd(a),
	)
	return cmd
}

// checkGID rejects values that cannot be an Asana gid (a string of
// digits), before they reach a URL path or the API: a typo is a usage error
// (exit 2) here, not a 400 from Asana.
func checkGID(what, gid string) error {
	if gid == "" {
		return usageErrorf("%s: empty gid", what)
	}
	if len(gid) > 64 {
		return usageErrorf("%s %.20q...: not a gid", what, gid)
	}
	for _, r := range gid {
		if r < '0' || r > '9' {
			return usageErrorf("%s %q: not a gid (want digits, such as 1200000000000042)", what, gid)
		}
	}
	return nil
}

type webhooksListOptions struct {
	resource string
	json     bool
}

func newWebhooksListCmd(a *App) *cobra.Command {
	var o webhooksListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the webhooks of a workspace",
		Long: `List the token's webhooks in a workspace, following every page, optionally
only those on one resource.

The workspace is --workspace or ASANA_WORKSPACE; without either, the token's
only workspace is used (if it has several, you are asked to choose).`,
		Example: `  asana-webhooks webhooks list --workspace 1200000000000001
  asana-webhooks webhooks list --resource 1200000000000002 --json | jq .target`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runWebhooksList(cmd.Context(), cmd, o)
		},
	}
	cmd.Flags().StringVar(&o.resource, "resource", "", "only webhooks on this resource gid")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object per line")
	return cmd
}

func (a *App) runWebhooksList(ctx context.Context, cmd *cobra.Command, o webhooksListOptions) error {
	client, err := a.Client()
	if err != nil {
		return err
	}
	if o.resource != "" {
		if err := checkGID("--resource", o.resource); err != nil {
			return err
		}
	}
	ws, err := a.workspace(ctx, client)
	if err != nil {
		return err
	}
	hooks, err := client.ListWebhooks(ctx, ws, o.resource)
	if err != nil {
		return fmt.Errorf("workspace %s: %w", ws, err)
	}
	out := cmd.OutOrStdout()
	if o.json {
		for _, h := range hooks {
			if err := writeJSONLine(out, h); err != nil {
				return err
			}
		}
		return nil
	}
	if len(hooks) == 0 {
		fmt.Fprintf(a.Stderr, "no webhooks in workspace %s\n", ws)
		return nil
	}
	return webhookTable(out, hooks)
}

// workspace returns the configured workspace, or the token's only one.
func (a *App) workspace(ctx context.Context, client *asana.Client) (string, error) {
	cfg, err := a.Config()
	if err != nil {
		return "", err
	}
	if cfg.Workspace != "" {
		return cfg.Workspace, checkGID("--workspace", cfg.Workspace)
	}
	wss, err := client.Workspaces(ctx)
	if err != nil {
		return "", fmt.Errorf("no --workspace given: %w", err)
	}
	switch len(wss) {
	case 0:
		return "", &configError{err: errors.New("the token has no workspace")}
	case 1:
		return wss[0].GID, nil
	}
	names := make([]string, len(wss))
	for i, w := range wss {
		names[i] = fmt.Sprintf("%s %q", clean(w.GID), w.Name)
	}
	return "", &configError{err: fmt.Errorf("the token has %d workspaces: pass --workspace or set ASANA_WORKSPACE to one of %s",
		len(wss), strings.Join(names, ", "))}
}

type webhooksGetOptions struct{ json bool }

func newWebhooksGetCmd(a *App) *cobra.Command {
	var o webhooksGetOptions
	cmd := &cobra.Command{
		Use:   "get GID",
		Short: "Show one webhook",
		Long: `Show one webhook: its resource, target, filters and delivery health (last
success, last failure and its content, retries, scheduled deletion).`,
		Example: `  asana-webhooks webhooks get 1200000000000042
  asana-webhooks webhooks get 1200000000000042 --json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.Client()
			if err != nil {
				return err
			}
			if err := checkGID("webhook", args[0]); err != nil {
				return err
			}
			h, err := client.GetWebhook(cmd.Context(), args[0])
			if err != nil {
				return err // the client names the operation and the gid
			}
			if o.json {
				return writeJSONLine(cmd.OutOrStdout(), h)
			}
			return webhookDetails(cmd.OutOrStdout(), h)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the webhook as one JSON object")
	return cmd
}

type webhooksCreateOptions struct {
	resource    string
	target      string
	filters     []asana.Filter
	printSecret bool
	json        bool
}

func newWebhooksCreateCmd(a *App) *cobra.Command {
	var o webhooksCreateOptions
	cmd := &cobra.Command{
		Use:   "create --resource GID --target URL [--filter " + FilterSyntax + "]...",
		Short: "Create a webhook",
		Long: `Create a webhook on a resource (a project, task, portfolio, team or
workspace). Asana performs the X-Hook-Secret handshake with --target before it
answers, so the target must already be serving and answer the handshake.

--filter narrows the events; repeat it for several filters. Its form is
` + FilterSyntax + `; fields are allowed only with the action changed.
Workspace, team and portfolio webhooks need at least one filter.

The secret is printed only with --print-secret. If the outcome of the create
is unknown (a timeout, a server error), the command reports the webhook with
the same target if one exists, and exits 1: check it before trusting it.`,
		Example: `  asana-webhooks webhooks create --resource 1200000000000002 \
      --target https://example.com/hook \
      --filter task:changed:name,due_on --filter story:added

  # The resource defaults to ASANA_PROJECT (or --project)
  ASANA_PROJECT=1200000000000002 asana-webhooks webhooks create --target https://example.com/hook --print-secret`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runWebhooksCreate(cmd.Context(), cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.resource, "resource", "", "resource gid to watch (default ASANA_PROJECT)")
	f.StringVar(&o.target, "target", "", "URL Asana delivers to; it must answer the handshake")
	f.Var(newFilterFlag(&o.filters), "filter", "filter "+FilterSyntax+" (repeatable)")
	f.BoolVar(&o.printSecret, "print-secret", false, "print the webhook's X-Hook-Secret")
	f.BoolVar(&o.json, "json", false, "print the webhook as one JSON object (with x_hook_secret only with --print-secret)")
	return cmd
}

// createdJSON is the --json form of a created webhook.
type createdJSON struct {
	asana.Webhook
	Secret string `json:"x_hook_secret,omitempty"`
}

func (a *App) runWebhooksCreate(ctx context.Context, cmd *cobra.Command, o webhooksCreateOptions) error {
	client, err := a.Client()
	if err != nil {
		return err
	}
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	if o.resource == "" {
		o.resource = cfg.Project
	}
	if o.resource == "" {
		return usageErrorf("--resource is required (or set ASANA_PROJECT)")
	}
	if err := checkGID("--resource", o.resource); err != nil {
		return err
	}
	if err := checkTarget(o.target); err != nil {
		return err
	}
	created, err := client.CreateWebhook(ctx, asana.CreateWebhookRequest{
		Resource: o.resource, Target: o.target, Filters: o.filters,
		Workspace: cfg.Workspace, // a hint for the lookup after an uncertain outcome
	})
	var unsure *asana.CreateUncertainError
	if errors.As(err, &unsure) && unsure.Existing != nil {
		return fmt.Errorf("%w; check it with 'asana-webhooks webhooks get %s' before trusting it", err, clean(unsure.Existing.GID))
	}
	if err != nil {
		return err // the client names the operation
	}
	out := cmd.OutOrStdout()
	h := created.Webhook
	if o.json {
		v := createdJSON{Webhook: h}
		if o.printSecret {
			v.Secret = created.Secret.Reveal()
		}
		return writeJSONLine(out, v)
	}
	fmt.Fprintf(out, "Created webhook %s on %s\n", clean(h.GID), formatCompact(h.Resource))
	tw := newTable(out)
	fmt.Fprintf(tw, "  target:\t%s\n", clean(h.Target))
	fmt.Fprintf(tw, "  filters:\t%s\n", clean(FormatFilters(h.Filters)))
	fmt.Fprintf(tw, "  active:\t%t\n", h.Active)
	if o.printSecret {
		fmt.Fprintf(tw, "  secret:\t%s\n", created.Secret.Reveal())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write webhook: %w", err)
	}
	if !o.printSecret {
		fmt.Fprintln(a.Stderr, "note: the X-Hook-Secret was given to your target in the handshake; it is not shown here (use --print-secret)")
	}
	return nil
}

// checkTarget requires an absolute http(s) URL.
func checkTarget(target string) error {
	if target == "" {
		return usageErrorf("--target is required: the URL Asana delivers to")
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return usageErrorf("--target %q: want an absolute https URL such as https://example.com/hook", target)
	}
	return nil
}

type webhooksUpdateOptions struct {
	filters []asana.Filter
	clear   bool
	json    bool
}

func newWebhooksUpdateCmd(a *App) *cobra.Command {
	var o webhooksUpdateOptions
	cmd := &cobra.Command{
		Use:   "update GID (--filter " + FilterSyntax + "... | --clear-filters)",
		Short: "Replace a webhook's filters",
		Long: `Replace a webhook's filters with the given ones (Asana replaces the whole
list), or remove them all with --clear-filters. Resource and target cannot be
changed: delete the webhook and create another.`,
		Example: `  asana-webhooks webhooks update 1200000000000042 --filter task:changed:name --filter task:added
  asana-webhooks webhooks update 1200000000000042 --clear-filters`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.Client()
			if err != nil {
				return err
			}
			if err := checkGID("webhook", args[0]); err != nil {
				return err
			}
			switch {
			case o.clear && len(o.filters) > 0:
				return usageErrorf("--clear-filters and --filter cannot be combined")
			case !o.clear && len(o.filters) == 0:
				return usageErrorf("give the new filters with --filter, or --clear-filters to remove them")
			}
			filters := o.filters
			if o.clear {
				filters = []asana.Filter{}
			}
			h, err := client.UpdateWebhook(cmd.Context(), args[0], filters)
			if err != nil {
				return err // the client names the operation and the gid
			}
			if o.json {
				return writeJSONLine(cmd.OutOrStdout(), h)
			}
			if len(h.Filters) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "Updated webhook %s: no filters (every event on the resource is delivered)\n", clean(h.GID))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Updated webhook %s: filters %s\n", clean(h.GID), clean(FormatFilters(h.Filters)))
			return nil
		},
	}
	f := cmd.Flags()
	f.Var(newFilterFlag(&o.filters), "filter", "new filter "+FilterSyntax+" (repeatable)")
	f.BoolVar(&o.clear, "clear-filters", false, "remove every filter")
	f.BoolVar(&o.json, "json", false, "print the webhook as one JSON object")
	return cmd
}

type webhooksDeleteOptions struct{ json bool }

// deletedJSON is one --json line of delete.
type deletedJSON struct {
	GID     string `json:"gid"`
	Deleted bool   `json:"deleted"`
	Error   string `json:"error,omitempty"`
}

func newWebhooksDeleteCmd(a *App) *cobra.Command {
	var o webhooksDeleteOptions
	cmd := &cobra.Command{
		Use:   "delete GID...",
		Short: "Delete webhooks",
		Long: `Delete one or more webhooks. Every gid is attempted; the command exits 1 if
any deletion failed.`,
		Example: `  asana-webhooks webhooks delete 1200000000000042
  asana-webhooks webhooks list --json | jq -r .gid | xargs asana-webhooks webhooks delete`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := a.Client()
			if err != nil {
				return err
			}
			for _, gid := range args {
				if err := checkGID("webhook", gid); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, gid := range args {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				derr := client.DeleteWebhook(cmd.Context(), gid)
				if derr != nil {
					failed++
					fmt.Fprintf(a.Stderr, "asana-webhooks: %s\n", oneLine(derr.Error()))
				}
				switch {
				case o.json:
					line := deletedJSON{GID: gid, Deleted: derr == nil}
					if derr != nil {
						line.Error = derr.Error()
					}
					if err := writeJSONLine(out, line); err != nil {
						return err
					}
				case derr == nil:
					fmt.Fprintf(out, "Deleted webhook %s\n", gid)
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d deletions failed", failed, len(args))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object per webhook")
	return cmd
}
