// Package conformance holds tests only: they check the emulator against
// Asana's own description of its API and against a client no one here wrote.
//
//   - Every response of every endpoint the emulator serves, success and error
//     alike, is validated with kin-openapi against Asana's OpenAPI spec
//     (testdata/asana-openapi.yaml). Where Asana's observed behaviour departs
//     from its own spec, the tests hold an explicit list of departures, each
//     with its reason and its source in the reference (asana-api.md), and each
//     must still be needed: dropping any one of them makes a recorded response
//     fail.
//   - Webhook deliveries and /events pages are checked against the spec's
//     EventResponse schema and the event field set of the reference.
//   - Asana's official Node SDK (npm asana, pinned in nodesdk/package-lock.json)
//     creates, lists, gets, updates and deletes a webhook and reads /events
//     against the emulator (nodesdk/drive.js).
package conformance
