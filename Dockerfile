# syntax=docker/dockerfile:1
# kfed's container image: one static (musl) binary on distroless, as a non-root user.
#
#   docker build -t kfed:0.1.0 .
#   docker run --rm kfed:0.1.0 version
#
# config/manager runs it as `kfed controller --leader-elect ...` (image kfed:0.1.0;
# override the name and tag with kustomize `images:`, see config/overlays/production).

# --- build: a statically linked x86_64 binary (musl), so the final image needs no libc.
FROM rust:1.95 AS build
ARG TARGET=x86_64-unknown-linux-musl
# musl-tools: musl-gcc compiles ring's C and assembly for the musl target.
RUN rustup target add "${TARGET}" \
 && apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_PROFILE_RELEASE_STRIP=symbols
WORKDIR /src
COPY . .
# The caches keep the crates and the build between `docker build`s (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target "${TARGET}" --bin kfed \
 && cp "target/${TARGET}/release/kfed" /kfed

# --- run: distroless static (CA certificates, /etc/passwd with nonroot, no shell).
FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="kfed" \
      org.opencontainers.image.description="Kubernetes cluster federation operator, wire-compatible with KubeFed v1beta1" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /kfed /kfed
# nonroot (65532), numeric so that runAsNonRoot can verify it.
USER 65532:65532
# /metrics, /healthz, /readyz of `kfed controller`.
EXPOSE 9090
ENTRYPOINT ["/kfed"]
