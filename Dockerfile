# syntax=docker/dockerfile:1
# The operator image: wsaudit installed into a virtualenv in a build stage, copied into a
# slim runtime without build tools, run as a non-root user with a read-only root filesystem.
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/wsaudit
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/wsaudit/bin/pip install --no-compile . \
    && /opt/wsaudit/bin/python -m compileall -q /opt/wsaudit/lib

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="wsaudit" \
      org.opencontainers.image.description="Finds broken and unsafe WebSocket endpoints" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/wsaudit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/wsaudit /opt/wsaudit
USER 65532:65532
EXPOSE 9090 8080 9443
ENTRYPOINT ["wsaudit"]
CMD ["run"]
