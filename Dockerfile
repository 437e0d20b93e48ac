# syntax=docker/dockerfile:1
# authgate's image: one static binary on distroless (CA certificates and
# time zones, no shell, no package manager), run as an unprivileged user.
#
#   docker build -t authgate .
#   docker run -e DATABASE_URL=… -e HASURA_GRAPHQL_JWT_SECRET=… -p 8080:8080 authgate
#
# The build line below is also read by docker_test.go, which builds the
# binary with exactly these flags and runs it: keep it on one line.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/authgate .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authgate /usr/local/bin/authgate
USER nonroot:nonroot
EXPOSE 8080
# No curl in the image: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/authgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/authgate"]
CMD ["serve"]
