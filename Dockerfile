# syntax=docker/dockerfile:1
# hookrunner image: a static binary on distroless static (CA certificates,
# tzdata, /tmp, no shell), running as uid 65532. Base images are build
# arguments so a mirror can be used:
#   docker buildx build --build-arg GO_IMAGE=mirror.example.com/golang:1.26 \
#     --build-arg RUNTIME_IMAGE=mirror.example.com/distroless/static-debian12:nonroot .
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
# Dependencies in their own layer: source changes do not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
# Keep these flags in step with the Makefile's LDFLAGS/GOBUILD (a test
# checks that they agree).
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
    -ldflags "-s -w -X github.com/hookrunner/hookrunner/runner.Version=${VERSION} -X github.com/hookrunner/hookrunner/runner.Commit=${COMMIT}" \
    -o /out/hookrunner ./cmd/hookrunner

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/hookrunner /hookrunner
USER 65532:65532
ENTRYPOINT ["/hookrunner"]
