#!/usr/bin/env bash
# Build an offline Python base image (Debian minbase + python3 + python3-venv) with debootstrap and
# load it with `docker import`, for machines where no image registry answers. Needs root.
# Idempotent: does nothing when the image exists (FORCE=1 rebuilds).
#
#   deploy/base-image.sh [IMAGE]     # default basis/base:bookworm
#
# Settings (environment): SUITE (bookworm), MIRROR (the first Debian mirror in /etc/apt/sources.list*,
# else http://deb.debian.org/debian), FORCE=1.
set -euo pipefail

IMAGE="${1:-${BASE_IMAGE:-basis/base:bookworm}}"
SUITE="${SUITE:-bookworm}"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE exists (FORCE=1 rebuilds)"
  exit 0
fi

mirror_from_apt() {
  # deb822 files ("URIs: ...") first, then one-line ones ("deb URL suite ..."); only Debian's main archive.
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
    | grep -E '/debian/?$' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${MIRROR:-$(mirror_from_apt)}"

command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; exit 1; }

ROOTFS=$(mktemp -d /tmp/basis-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

echo "debootstrap $SUITE (minbase + python3) from $MIRROR into $ROOTFS"
debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$ROOTFS" "$MIRROR" >/tmp/basis-debootstrap.log 2>&1 \
  || { tail -n 30 /tmp/basis-debootstrap.log >&2; exit 1; }

# Smaller image: no package caches, lists, docs or man pages.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*

tar --numeric-owner -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "debootstrap $SUITE minbase + python3 (basis deploy/base-image.sh)" \
  - "$IMAGE"
docker run --rm "$IMAGE" python3 --version
echo "built $IMAGE"
