# Version stamped into the binary; `go install ...@vX` records it without this.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: test build bench clean

# Prepare what the tests need (Chromium, npm packages, PostgreSQL) and run
# gofmt, go vet, every test with the race detector, then a short run of every
# fuzz target.
test:
	bash scripts/test.sh

# Measure the receiver against a bare handler (asana-webhooks bench, 18 s),
# then run the Go benchmarks of the receiver once.
bench:
	go run ./cmd/asana-webhooks bench
	go test -run '^$$' -bench Receiver -benchtime 2s ./internal/bench/

# Build the binary into bin/.
build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/asana-webhooks ./cmd/asana-webhooks

clean:
	rm -rf bin
