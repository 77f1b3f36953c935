# Version stamped into the binary; `go install ...@vX` records it without this.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: test build clean

# Prepare what the tests need (Chromium, npm packages, PostgreSQL) and run
# gofmt, go vet and every test with the race detector.
test:
	bash scripts/test.sh

# Build the binary into bin/.
build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/asana-webhooks ./cmd/asana-webhooks

clean:
	rm -rf bin
