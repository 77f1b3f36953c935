package webui

import (
	"net"
	"net/http"
	"strings"
)

// loopbackName reports whether host (without a port) names the loopback
// interface: localhost, 127.0.0.0/8 or ::1.
func loopbackName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackHost reports whether a Host header value names the loopback
// interface: "127.0.0.1:8091", "localhost:8091", "[::1]:8091", with or
// without a port. An empty value is not loopback.
func IsLoopbackHost(hostport string) bool {
	if hostport == "" {
		return false
	}
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if !validPort(port) {
			return false
		}
		host = h
	} else if strings.HasPrefix(hostport, "[") {
		// "[::1]" without a port.
		if !strings.HasSuffix(hostport, "]") {
			return false
		}
		host = hostport[1 : len(hostport)-1]
	} else if strings.Contains(hostport, ":") {
		return false
	}
	return loopbackName(host)
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// HostCheck answers 403 to any request whose Host is not loopback nor one of
// extra (compared without regard to case). A page served on 127.0.0.1 is
// reachable through DNS rebinding by any website whose name resolves to
// 127.0.0.1; the browser then sends that website's name as Host, and this
// check refuses it.
func HostCheck(next http.Handler, extra ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsLoopbackHost(r.Host) && !hostIn(r.Host, extra) {
			http.Error(w, "403 forbidden: this UI answers only to a loopback Host (127.0.0.1, localhost, [::1])", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func hostIn(host string, list []string) bool {
	if host == "" {
		return false
	}
	for _, h := range list {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// contentSecurityPolicy allows only the UI's own scripts, styles and
// connections: no inline script, no frame, forms only to itself.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every UI response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// legacyPaths maps the original inspector's pages to the UI's.
var legacyPaths = map[string]string{
	"/all_webhooks":        "/webhooks",
	"/create_webhook":      "/create",
	"/remove_all_webhooks": "/webhooks/delete-all",
}

// LegacyRedirects serves the original inspector's paths (/all_webhooks,
// /create_webhook, /remove_all_webhooks) on the receiver's port: a GET or HEAD
// with a loopback Host and no forwarding header (Forwarded, X-Forwarded-*,
// X-Real-Ip) is redirected (303) to the matching page under uiBaseURL (such
// as "http://127.0.0.1:8091"); any other request to these paths gets 404, the
// answer of a port that has no such page. A proxy or tunnel in front of the
// port may rewrite Host to 127.0.0.1, which is why forwarding headers count as
// "from outside" too. Other paths go to next.
func LegacyRedirects(uiBaseURL string, next http.Handler) http.Handler {
	base := strings.TrimRight(uiBaseURL, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to, ok := legacyPaths[r.URL.Path]
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !IsLoopbackHost(r.Host) || forwarded(r) {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, base+to, http.StatusSeeOther)
	})
}

// forwarded reports whether a proxy says it forwarded the request.
func forwarded(r *http.Request) bool {
	for k := range r.Header {
		k = http.CanonicalHeaderKey(k)
		if k == "Forwarded" || k == "X-Real-Ip" || k == "Via" || strings.HasPrefix(k, "X-Forwarded-") {
			return true
		}
	}
	return false
}
