package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
	"github.com/asana-webhooks/asana-webhooks/internal/webui"
)

// uiServer is the web UI of a run: its own listener, the feed the receiver
// fills and the actions it offers.
type uiServer struct {
	ui      *webui.UI
	ln      net.Listener
	srv     *http.Server
	served  chan struct{}
	url     string
	feed    *webui.Broadcaster
	actions *uiActions
}

// UIListenAddr returns where the web UI listens: uiListen if set, else
// 127.0.0.1 on the receiver's port + 1 (or a free port when the receiver's
// configured port is 0, as in tests).
func UIListenAddr(uiListen, listen string, receiver net.Addr) (string, error) {
	if uiListen != "" {
		if _, _, err := net.SplitHostPort(uiListen); err != nil {
			return "", fmt.Errorf("web UI address %q: want host:port, such as 127.0.0.1:8091", uiListen)
		}
		return uiListen, nil
	}
	if _, port, err := net.SplitHostPort(listen); err == nil && port == "0" {
		return "127.0.0.1:0", nil
	}
	ta, ok := receiver.(*net.TCPAddr)
	if !ok || ta.Port <= 0 || ta.Port >= 65535 {
		return "", fmt.Errorf("web UI: cannot derive a port from the receiver's address %s; set the UI address", receiver)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port+1)), nil
}

// isLoopbackListen reports whether a listen address binds only loopback.
func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// publicHandler starts the web UI when the run asks for it and returns the
// handler of the public port: the receiver, behind the redirects of the
// original inspector's pages to the UI. Without the UI it is the receiver.
func (in *Inspector) publicHandler(rcv http.Handler, receiverAddr net.Addr) (http.Handler, error) {
	if !in.cfg.UI {
		return rcv, nil
	}
	ui, err := in.startUI(receiverAddr)
	if err != nil {
		return nil, err
	}
	in.ui = ui
	return webui.LegacyRedirects(ui.url, rcv), nil
}

// startUI listens on the UI's address and serves the UI.
func (in *Inspector) startUI(receiverAddr net.Addr) (*uiServer, error) {
	addr, err := UIListenAddr(in.cfg.UIListen, in.cfg.Listen, receiverAddr)
	if err != nil {
		return nil, err
	}
	remote := !isLoopbackListen(addr)
	if remote && !in.cfg.UIAllowRemote {
		return nil, fmt.Errorf("web UI address %s is not a loopback address: anyone who reaches it could create and delete webhooks; pass --ui-allow-remote to serve it there anyway", addr)
	}
	ln, err := net.Listen("tcp", addr)
	busy := ""
	if err != nil && in.cfg.UIListen == "" {
		// The default port is only a convention: take a free one and say so.
		busy = addr
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("web UI: listen on %s: %w", addr, err)
	}
	var allowed []string
	if remote {
		allowed = remoteHosts(ln.Addr())
	}
	u := &uiServer{ln: ln, served: make(chan struct{}), feed: webui.NewBroadcaster(), actions: &uiActions{in: in}}
	cfg := webui.Config{
		Reader: in.store, Actions: u.actions, Feed: u.feed, Logger: in.log, AllowedHosts: allowed, Now: in.cfg.Now,
	}
	if in.cfg.ForwardTo != "" {
		cfg.Forwarder = uiForwarder{in: in}
	}
	ui, err := webui.New(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	u.ui = ui
	u.srv = webui.NewHTTPServer(ln.Addr().String(), ui.Handler(), in.log)
	u.srv.RegisterOnShutdown(ui.CloseStreams)
	go func() {
		defer close(u.served)
		if err := u.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			in.log.Error("web UI server stopped", "err", err)
		}
	}()
	u.url = "http://" + ln.Addr().String()
	if remote {
		in.printer.info("WARNING: the web UI listens on %s, beyond this machine (--ui-allow-remote): anyone who reaches it can create and delete webhooks", ln.Addr())
		if ta, ok := ln.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			u.url = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
		}
	}
	if busy != "" {
		in.printer.info("web UI on %s (%s was taken)", u.url, busy)
	} else {
		in.printer.info("web UI on %s", u.url)
	}
	return u, nil
}

// remoteHosts are the Host values a UI bound beyond loopback accepts: the
// bound address, or every address of the machine for an unspecified one.
func remoteHosts(a net.Addr) []string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return nil
	}
	port := strconv.Itoa(ta.Port)
	if !ta.IP.IsUnspecified() {
		return []string{net.JoinHostPort(ta.IP.String(), port)}
	}
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, ad := range addrs {
		if ipn, ok := ad.(*net.IPNet); ok {
			out = append(out, net.JoinHostPort(ipn.IP.String(), port))
		}
	}
	return out
}

// observe hands a stored delivery to the UI's feed; nil-safe.
func (u *uiServer) observe(r inspector.RecordResult) {
	if u != nil {
		u.feed.Observe(r)
	}
}

// setManager gives the UI the run's manager once Start made it; nil-safe.
func (u *uiServer) setManager(m *inspector.Manager) {
	if u != nil {
		u.actions.manager.Store(m)
	}
}

// close stops the UI: open streams are cut, requests get a moment to end,
// and creates still running settle, so the run's cleanup sees their webhooks.
func (u *uiServer) close() {
	if u == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := u.srv.Shutdown(ctx); err != nil {
		_ = u.srv.Close()
	}
	<-u.served
	u.ui.Close()
}

// UIURL returns the web UI's URL; empty without a UI or before Start.
func (in *Inspector) UIURL() string {
	if in.ui == nil {
		return ""
	}
	return in.ui.url
}

// uiActions implements webui.Actions over the run's client, store and
// manager.
type uiActions struct {
	in      *Inspector
	manager atomic.Pointer[inspector.Manager]

	mu        sync.Mutex
	workspace string
}

// ws returns the workspace the UI lists webhooks and projects in: the
// configured one, else the one of the run's webhooks, else the first
// resource's.
func (a *uiActions) ws(ctx context.Context) (string, error) {
	a.mu.Lock()
	ws := a.workspace
	a.mu.Unlock()
	if ws != "" {
		return ws, nil
	}
	ws = a.in.cfg.Workspace
	if ws == "" {
		hooks, err := a.in.store.ListHooks(ctx, inspector.HookFilter{States: []inspector.HookState{inspector.HookActive}})
		if err != nil {
			return "", fmt.Errorf("find the workspace: %w", err)
		}
		for _, h := range hooks {
			if h.WorkspaceGID != "" {
				ws = h.WorkspaceGID
				break
			}
		}
	}
	if ws == "" && len(a.in.cfg.Resources) > 0 {
		p, err := a.in.cfg.Client.Project(ctx, a.in.cfg.Resources[0])
		if err != nil {
			return "", fmt.Errorf("find the workspace of %s: %w", a.in.cfg.Resources[0], err)
		}
		if p.Workspace != nil {
			ws = p.Workspace.GID
		}
	}
	if ws == "" {
		return "", errors.New("the workspace is unknown; pass --workspace")
	}
	a.mu.Lock()
	a.workspace = ws
	a.mu.Unlock()
	return ws, nil
}

// Webhooks implements webui.Actions.
func (a *uiActions) Webhooks(ctx context.Context) ([]asana.Webhook, error) {
	ws, err := a.ws(ctx)
	if err != nil {
		return nil, err
	}
	return a.in.cfg.Client.ListWebhooks(ctx, ws, "")
}

// Projects implements webui.Actions.
func (a *uiActions) Projects(ctx context.Context) ([]asana.Project, error) {
	ws, err := a.ws(ctx)
	if err != nil {
		return nil, err
	}
	return a.in.cfg.Client.Projects(ctx, ws)
}

// Create implements webui.Actions through the manager, so the webhook
// belongs to the run (watched, and deleted at its end unless --keep). The
// manager does not report progress; a watcher reports the handshake when the
// store shows its secret.
func (a *uiActions) Create(ctx context.Context, req webui.CreateRequest, progress func(string)) (webui.CreateResult, error) {
	m := a.manager.Load()
	if m == nil {
		return webui.CreateResult{}, errors.New("the inspector is still starting; try again in a moment")
	}
	ws, err := a.ws(ctx)
	if err != nil {
		return webui.CreateResult{}, err
	}
	res := asana.Compact{GID: req.ResourceGID, ResourceType: req.ResourceType}
	if req.ResourceGID == ws && req.ResourceType != "workspace" {
		// The workspace's own gid, whatever kind the form said: its rules
		// apply, and are checked before Asana is asked.
		res.ResourceType = "workspace"
		if probs := webui.ValidateFilters("workspace", req.Filters); len(probs) > 0 {
			return webui.CreateResult{}, fmt.Errorf("%s is the workspace, and %s", ws, probs[0])
		}
	}
	if res.ResourceType == "project" || res.ResourceType == "" {
		p, err := a.in.cfg.Client.Project(ctx, req.ResourceGID)
		switch {
		case err == nil:
			res.ResourceType, res.Name = "project", p.Name
			progress("Found project “" + p.Name + "”.")
		case res.ResourceType == "project":
			return webui.CreateResult{}, fmt.Errorf("%s is not a project this token can see (if it is a team, portfolio or task, say so in the form): %w", req.ResourceGID, err)
		}
	}
	started := a.in.cfg.Now()
	done := make(chan struct{})
	var seen atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if a.watchHandshake(ctx, req.ResourceGID, started, done) {
			seen.Store(true)
			progress("Handshake received: the secret is stored. Waiting for Asana's 201 to confirm it...")
		}
	}()
	progress("Stored a pending webhook with a fresh target path, opened its handshake window and sent POST /webhooks.")
	h, err := m.Create(ctx, inspector.HookSpec{Resource: res, Workspace: ws, Filters: req.Filters})
	close(done)
	wg.Wait()
	if err != nil {
		return webui.CreateResult{}, err
	}
	if !seen.Load() {
		progress("Handshake received and its secret stored.")
	}
	progress("Asana's 201 carried the same secret as the handshake.")
	a.in.printer.info("webhook %s on %s created from the web UI (hook %s)", h.WebhookGID, h.Resource.GID, short(h.ID))
	return webui.CreateResult{HookID: h.ID, WebhookGID: h.WebhookGID, Resource: h.Resource, Target: h.Target}, nil
}

// watchHandshake reports whether a pending hook on resource created since
// started had its handshake secret stored before done closed.
func (a *uiActions) watchHandshake(ctx context.Context, resource string, started time.Time, done <-chan struct{}) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return false
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		hooks, err := a.in.store.ListHooks(ctx, inspector.HookFilter{ResourceGID: resource, States: []inspector.HookState{inspector.HookPending}})
		if err != nil {
			continue
		}
		for _, h := range hooks {
			if h.HasSecret && !h.CreatedAt.Before(started.Add(-time.Second)) {
				return true
			}
		}
	}
}

// Delete implements webui.Actions through the manager, which marks the hook
// as being deleted before it asks Asana, so the health monitor does not take
// the webhook's disappearance for Asana's doing and re-create it.
func (a *uiActions) Delete(ctx context.Context, hookID string) error {
	m := a.manager.Load()
	if m == nil {
		return errors.New("the inspector is still starting; try again in a moment")
	}
	h, err := m.Delete(ctx, hookID)
	if err != nil {
		return err
	}
	a.in.printer.info("webhook %s on %s deleted from the web UI", h.WebhookGID, h.Resource.GID)
	return nil
}

// DeleteAll implements webui.Actions: every active hook of this run (which
// reconciled the earlier runs' at its start); another inspector's running on
// the same store are its own.
func (a *uiActions) DeleteAll(ctx context.Context) (int, error) {
	m := a.manager.Load()
	if m == nil {
		return 0, errors.New("the inspector is still starting; try again in a moment")
	}
	hooks, err := a.in.store.ListHooks(ctx, inspector.HookFilter{RunID: m.RunID(), States: []inspector.HookState{inspector.HookActive}})
	if err != nil {
		return 0, fmt.Errorf("delete all: %w", err)
	}
	n := 0
	var errs []error
	for _, h := range hooks {
		if err := a.Delete(ctx, h.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// uiForwarder is the gateway for the web UI's replay button.
type uiForwarder struct{ in *Inspector }

// ForwardURL implements webui.Forwarder.
func (f uiForwarder) ForwardURL() string { return f.in.cfg.ForwardTo }

// Replay implements webui.Forwarder.
func (f uiForwarder) Replay(ctx context.Context, deliveryID int64) (int, error) {
	det, err := f.in.store.GetDelivery(ctx, deliveryID)
	if err != nil {
		return 0, err
	}
	g := f.in.fwd.Load()
	if g == nil {
		return 0, errors.New("this replica does not forward: the one that manages the webhooks does")
	}
	ev := g.Send(ctx, det.Delivery)
	return ev.Status, ev.Err
}
