# syntax=docker/dockerfile:1
# The imagelookup image: `make image` builds it with podman or docker. The binary links glibc and
# libgcc_s dynamically (it is not static), so the runtime is distroless/cc, which has both plus
# CA certificates for importing from registries over TLS, and the builder is the same Debian
# release (bookworm = debian12): keep the two in step.
ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep downloaded crates and compiled dependencies between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin imagelookup \
 && cp target/release/imagelookup /usr/local/bin/imagelookup

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/imagelookup /usr/local/bin/imagelookup
# The user manifests/deployment.yaml runs as (runAsUser, runAsGroup).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/imagelookup"]
CMD ["serve", "--listen=[::]:8443"]
