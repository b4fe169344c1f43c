# News incident monitor daemon.
#   docker build -t news-incident-monitor .
#   docker run -v "$PWD/config:/app/config" -v "$PWD/data:/app/data" --env-file .env news-incident-monitor
# or, simpler: docker compose up -d  (see docker-compose.yml)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Non-root user. UID/GID match the usual first host user so that the bind-mounted
# ./data directory stays writable; override with --build-arg UID=... GID=...
ARG UID=1000
ARG GID=1000
RUN groupadd --gid "${GID}" monitor \
 && useradd --uid "${UID}" --gid monitor --create-home --shell /usr/sbin/nologin monitor

# Build from a scratch copy of the sources. config/ must be copied together with monitor/:
# monitor/profiles/iraq-syria-militia-attacks.yaml is a symlink to
# ../../config/profiles/iraq-syria-militia-attacks.yaml, and setuptools packs the file it
# points to into the wheel. The `test -f` fails the build if the installed profile is missing.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor/ monitor/
COPY config/ config/
RUN pip install --no-cache-dir '.[postgres]' \
 && cd / \
 && test -f "$(python -c 'import monitor, pathlib; print(pathlib.Path(monitor.__file__).parent / "profiles" / "iraq-syria-militia-attacks.yaml")')" \
 && rm -rf /src

WORKDIR /app
# The shipped watchlist and profiles, used when nothing is mounted on /app/config.
COPY config/ /app/config/
RUN mkdir -p /app/data && chown monitor:monitor /app/data

# config: watchlist + profiles (read-only for the daemon); data: SQLite database.
VOLUME ["/app/config", "/app/data"]

USER monitor

# Exec form: `monitor` is PID 1 and gets SIGTERM directly; it finishes in-flight work and exits.
STOPSIGNAL SIGTERM
CMD ["monitor", "run", "--config", "/app/config/monitor.yaml"]
