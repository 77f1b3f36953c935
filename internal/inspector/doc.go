// Package inspector is the domain of the webhook inspector: the webhooks we
// own (Hook), the inspector runs that created them (Run), the deliveries they
// receive (Delivery) and the events stored once per webhook (Event), the Store
// interface every storage backend implements, and the handshake windows that
// say when a webhook's X-Hook-Secret may be accepted.
//
// The package imports no adapter: the SQLite and PostgreSQL stores, the public
// receiver and the UI import it, never the reverse.
package inspector
