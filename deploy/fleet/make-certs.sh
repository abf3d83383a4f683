#!/usr/bin/env bash
# Certificates for mutual TLS between the central healer and each host's socket proxy.
#
#   deploy/fleet/make-certs.sh DIR NAME=ADDRESS [NAME=ADDRESS ...]
#   deploy/fleet/make-certs.sh certs docker-a=10.0.0.11 docker-b=docker-b.example.internal
#
# NAME is the host's name (HEALER_DOCKER_HOSTS, the `host` label); ADDRESS is what the
# healer dials (tcp://ADDRESS:2377), a DNS name or an IP address, written into the
# server certificate, which the healer checks. Makes, under DIR:
#
#   ca.pem, ca-key.pem             a private CA (keep ca-key.pem offline once done)
#   agent/NAME/server.pem          copy to host NAME: ITOPS_AGENT_TLS_DIR (its certificate
#   agent/NAME/ca.pem              and key in one file, and the CA that signs healers)
#   healer/NAME/{ca,cert,key}.pem  the central stack's HEALER_DOCKER_TLS_DIR: the healer's
#                                  client certificate and the CA that signs the hosts
#
# An existing CA in DIR is reused, so hosts can be added later. Certificates last
# CERT_DAYS (825) days; re-run to renew. Needs openssl.
set -euo pipefail

if [ $# -lt 2 ]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
fi
dir=$1
shift
days=${CERT_DAYS:-825}
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days "$days" -subj "/CN=itops fleet CA" \
        -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
fi

# One client identity for the healer (every replica uses it), signed once.
if [ ! -f "$dir/healer-cert.pem" ]; then
    openssl req -newkey rsa:3072 -nodes -subj "/CN=itops healer" \
        -keyout "$dir/healer-key.pem" -out "$dir/healer.csr" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >"$dir/healer.ext"
    openssl x509 -req -in "$dir/healer.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -CAcreateserial -days "$days" -extfile "$dir/healer.ext" -out "$dir/healer-cert.pem" 2>/dev/null
    rm -f "$dir/healer.csr" "$dir/healer.ext"
fi

for pair in "$@"; do
    name=${pair%%=*}
    address=${pair#*=}
    if [ -z "$name" ] || [ "$name" = "$pair" ] || [ -z "$address" ]; then
        echo "expected NAME=ADDRESS, got '$pair'" >&2
        exit 2
    fi
    if [[ $address =~ ^[0-9.]+$ || $address == *:* ]]; then
        san="IP:$address"
    else
        san="DNS:$address"
    fi
    agent="$dir/agent/$name"
    healer="$dir/healer/$name"
    mkdir -p "$agent" "$healer"
    openssl req -newkey rsa:3072 -nodes -subj "/CN=$name" \
        -keyout "$agent/server-key.pem" -out "$agent/server.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$agent/server.ext"
    openssl x509 -req -in "$agent/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -CAcreateserial -days "$days" -extfile "$agent/server.ext" -out "$agent/server-cert.pem" 2>/dev/null
    # HAProxy reads the certificate and its key from one file.
    cat "$agent/server-cert.pem" "$agent/server-key.pem" >"$agent/server.pem"
    rm -f "$agent/server.csr" "$agent/server.ext" "$agent/server-cert.pem" "$agent/server-key.pem"
    cp "$dir/ca.pem" "$agent/ca.pem"
    cp "$dir/ca.pem" "$healer/ca.pem"
    cp "$dir/healer-cert.pem" "$healer/cert.pem"
    cp "$dir/healer-key.pem" "$healer/key.pem"
    echo "$name: $agent (to the host), $healer (to the central stack), $san"
done
# Readable inside the containers (HAProxy runs as root, the healer as uid 10001), which
# see only the folder mounted into them. DIR itself stays private (0700) to whoever
# ran this, so on this machine nobody else reaches the keys.
chmod 700 "$dir"
find "$dir/agent" "$dir/healer" -type d -exec chmod 755 {} +
find "$dir/agent" "$dir/healer" -type f -exec chmod 644 {} +
