#!/usr/bin/env bash
# Makes a Vulkan driver available for Dawn (npm `webgpu`) on a Debian machine without a GPU:
# Mesa's lavapipe (software Vulkan) at version >= 23. Debian bookworm ships Mesa 22.3, which Dawn
# rejects ("shaderUniform*ArrayDynamicIndexing required"), so the driver comes from bookworm-backports.
# The backports suite is added by copying the machine's own Debian source entry with the suite
# changed, so no mirror is named here. Does nothing when a Vulkan driver of a usable version exists.
set -euo pipefail

icd_dir=/usr/share/vulkan/icd.d
have_usable_driver() {
  # lavapipe's ICD file exists and the installed Mesa is >= 23; or some non-lavapipe ICD (a real GPU).
  local f
  for f in "$icd_dir"/*.json /etc/vulkan/icd.d/*.json; do
    [ -e "$f" ] || continue
    case "$f" in
      *lvp_icd*)
        local v
        v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)
        dpkg --compare-versions "$v" ge 23 && return 0 ;;
      *) return 0 ;;
    esac
  done
  return 1
}

if have_usable_driver; then
  echo "install-vulkan: a usable Vulkan driver is already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-vulkan: needs root (apt-get) to install mesa-vulkan-drivers >= 23" >&2
  exit 1
fi

. /etc/os-release
codename=${VERSION_CODENAME:-bookworm}
backports="${codename}-backports"

src_file=/etc/apt/sources.list.d/debian.sources
dst_file=/etc/apt/sources.list.d/convis-backports.sources
if ! grep -rqs "$backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [ -f "$src_file" ]; then
    # deb822: take the stanza that carries the main suite, change only its Suites line.
    awk -v main="$codename" -v bp="$backports" '
      BEGIN { RS=""; ORS="\n\n" }
      $0 ~ ("Suites:[^\n]*[[:space:]]" main "([[:space:]]|$)") && !done {
        n = split($0, lines, "\n"); out = ""
        for (i = 1; i <= n; i++) {
          if (lines[i] ~ /^Suites:/) lines[i] = "Suites: " bp
          if (lines[i] ~ /^#/) continue
          out = out lines[i] "\n"
        }
        printf "%s", out; done = 1
      }' "$src_file" > "$dst_file"
  elif [ -f /etc/apt/sources.list ]; then
    # one-line format: the first "deb" line of the main suite with the suite replaced.
    grep -E "^deb[[:space:]].*[[:space:]]${codename}[[:space:]]" /etc/apt/sources.list | head -n1 \
      | sed -E "s/[[:space:]]${codename}[[:space:]]/ ${backports} /" > /etc/apt/sources.list.d/convis-backports.list
  fi
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t "$backports" mesa-vulkan-drivers libvulkan1 >/dev/null
echo "install-vulkan: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
