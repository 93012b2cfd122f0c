# acs-emulator as a container: a Rust build stage, then a small Debian runtime.
#
#   docker build -t acs-emulator .
#   docker run --rm -p 127.0.0.1:8443:8443 -p 127.0.0.1:8080:8080 -v acs-certs:/certs acs-emulator
#
# Inside the container the emulator listens on 0.0.0.0 (HTTPS 8443, HTTP 8080) and writes its
# generated certificate to /certs/cert.pem and its CA bundle (the certificate plus Mozilla's roots:
# the image has no trust store of its own) to /certs/ca-bundle.pem, so other containers can mount
# /certs and trust it. Publish the ports on 127.0.0.1: the control API has no authentication by
# default (docs/containers.md). A host folder mounted on /certs must be writable by the container's
# user: run with --user "$(id -u):$(id -g)" after creating it.
# Add the host name other containers use with ACS_EMULATOR_TLS_HOSTNAME (e.g. "acs-emulator").
# Fixture files live in /fixtures (the examples are there; mount yours) and are chosen with
# ACS_EMULATOR_FIXTURES.
# The base images are build arguments so that mirrors or locally imported images can stand in.
ARG RUST_IMAGE=rust:1.95.0-bookworm
ARG RUNTIME_IMAGE=debian:12.12-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The `dist` profile is `release` with fat LTO (Cargo.toml): slower to build, faster to run.
RUN cargo build --profile dist --locked --bin acs-emulator \
    && cp target/dist/acs-emulator /usr/local/bin/acs-emulator

FROM ${RUNTIME_IMAGE}
COPY --from=build /usr/local/bin/acs-emulator /usr/local/bin/acs-emulator
# The example fixtures ship in the image; mount your own over /fixtures (read-only is fine) and
# pick them with ACS_EMULATOR_FIXTURES=/fixtures/a.yaml,/fixtures/b.yaml.
COPY fixtures/ /fixtures/
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin acs \
    && mkdir -p /certs \
    && chown 10001:10001 /certs
USER 10001
ENV ACS_EMULATOR_HOST=0.0.0.0 \
    ACS_EMULATOR_PORT=8443 \
    ACS_EMULATOR_HTTP_PORT=8080 \
    ACS_EMULATOR_TLS_CERT_OUT=/certs/cert.pem \
    ACS_EMULATOR_TLS_CA_BUNDLE_OUT=/certs/ca-bundle.pem \
    ACS_EMULATOR_LOG_FORMAT=json
EXPOSE 8443 8080
VOLUME ["/certs"]
# The binary probes its own HTTP listener: no shell or curl in the image.
HEALTHCHECK --interval=2s --timeout=3s --start-period=1s --retries=15 \
    CMD ["acs-emulator", "healthcheck"]
ENTRYPOINT ["acs-emulator"]
