# drover's container image: the static release binary on an empty base,
# with the CA certificates that HTTPS destinations need, run as an
# unprivileged user (65532). Nothing else is in it: no shell, no libc.
#
# Build it with `make release image` (scripts/image prepares the build
# context from dist/ and runs buildah or docker); docs/install.md explains.
FROM scratch

ARG TARGETARCH=amd64
ARG VERSION=devel
ARG REVISION=unknown

LABEL org.opencontainers.image.title="drover" \
      org.opencontainers.image.description="Ships logs and events from Nomad clusters" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/drover-dev/drover"

COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY passwd group /etc/
COPY --chown=65532:65532 data/ /var/lib/drover/
COPY drover_linux_${TARGETARCH} /usr/local/bin/drover

USER 65532:65532
# In a container the admin endpoint must listen beyond loopback to be
# reachable at all; the port is only reachable where it is published.
ENV DROVER_DATA_DIR=/var/lib/drover \
    DROVER_ADMIN_ADDRESS=0.0.0.0:7688
EXPOSE 7688
ENTRYPOINT ["/usr/local/bin/drover"]
CMD ["run", "--config", "/etc/drover"]
