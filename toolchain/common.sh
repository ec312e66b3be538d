# toolchain/common.sh — sourced by the scripts in toolchain/, never run on its own.
#
# Owns what every toolchain script agrees on: where the repo and the caches are,
# how messages are printed, how apt packages are ensured, which Debian mirror is
# used and which CPU QEMU emulates. Keeping these here means a path or a flag is
# changed in one place.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this

# The repo root is found from this file's location so the scripts work from any cwd.
STEADFAST_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEADFAST_TOOLCHAIN="$STEADFAST_REPO/toolchain"
STEADFAST_CACHE="${STEADFAST_CACHE:-$HOME/.cache/steadfast}"
STEADFAST_RISCV64_SYSROOT="${STEADFAST_RISCV64_SYSROOT:-$STEADFAST_CACHE/riscv64-trixie}"

# vext_spec is given explicitly: without it QEMU 7.2 prints a warning on every
# start, which would pollute the output of every riscv64 program and test.
# Zbc and V are enabled so the ISA-specific CRC paths can run (QEMU cannot report
# them through riscv_hwprobe, so tests force those paths by environment).
STEADFAST_QEMU_CPU="${STEADFAST_QEMU_CPU:-rv64,v=true,vext_spec=v1.0,vlen=256,zbc=true}"

# Messages go to stderr so that scripts whose stdout is a path stay usable in $(...).
sf_log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
sf_die() { printf '[%s] error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

sf_is_root() { [ "$(id -u)" = 0 ]; }

# sf_ensure_apt PKG... — installs the packages that are missing. Only root can
# install; anyone else gets told which packages to install instead of a later,
# more confusing failure. apt-get update runs only when something is missing.
sf_ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  sf_is_root || sf_die "missing apt packages: ${missing[*]} (run toolchain/install-deps as root)"
  sf_log "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# sf_debian_mirror — prints the Debian archive URL to fetch trixie from.
# No host name is written into the repo: the mirror is the one this machine's apt
# already uses for its main archive, i.e. the first deb entry whose suite is the
# host's own codename (this skips -security, -updates and third-party repos).
# STEADFAST_DEBIAN_MIRROR overrides it.
sf_debian_mirror() {
  if [ -n "${STEADFAST_DEBIAN_MIRROR:-}" ]; then
    printf '%s\n' "$STEADFAST_DEBIAN_MIRROR"
    return
  fi
  local codename url
  codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  # One-line style (sources.list and *.list): deb [options] URI SUITE COMPONENTS...
  # deb822 style (*.sources): stanzas of Types/URIs/Suites fields, blank-line separated.
  url="$(
    {
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' |
        awk -v want="$codename" '$1 == "deb" && $3 == want { print $2; exit }'
      cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk -v want="$codename" '
          function flush() {
            if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uris != "") {
              split(uris, u, " "); print u[1]; exit
            }
            types = ""; uris = ""; suites = ""
          }
          /^[ \t]*#/ { next }
          /^[ \t]*$/ { flush(); next }
          /^Types:/  { sub(/^Types:[ \t]*/, "");  types = $0 }
          /^URIs:/   { sub(/^URIs:[ \t]*/, "");   uris = $0 }
          /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
          END { flush() }'
    } | head -n 1
  )"
  [ -n "$url" ] || sf_die "no Debian main archive found in /etc/apt sources for '$codename'; set STEADFAST_DEBIAN_MIRROR"
  printf '%s\n' "${url%/}"
}

# sf_binfmt_riscv64 — true when the kernel runs riscv64 ELF files through QEMU by
# itself (needed for chroot and for riscv64 programs that start riscv64 children).
sf_binfmt_riscv64() {
  [ -r /proc/sys/fs/binfmt_misc/qemu-riscv64 ] &&
    head -n 1 /proc/sys/fs/binfmt_misc/qemu-riscv64 | grep -qx enabled
}

# The stamp marks a root whose preparation finished; its content names the recipe,
# so a root made by an older recipe is rebuilt rather than trusted.
STEADFAST_ROOT_STAMP="$STEADFAST_RISCV64_SYSROOT/.steadfast-root-complete"
STEADFAST_ROOT_RECIPE="trixie riscv64 minbase nodejs npm@10 v1"
sf_root_ready() {
  [ -f "$STEADFAST_ROOT_STAMP" ] && [ "$(cat "$STEADFAST_ROOT_STAMP")" = "$STEADFAST_ROOT_RECIPE" ]
}
