# toolchain/common.sh — sourced by the scripts in toolchain/, never run on its own.
# shellcheck shell=bash
#
# Owns what every toolchain script agrees on: where the repo and the caches are,
# how messages are printed, how apt packages are ensured, which Debian mirror is
# used, and the table of target arches (compiler, QEMU, CPU, glibc limit, test
# environment). Keeping these here means a path or a flag is changed in one place.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this

# The repo root is found from this file's location so the scripts work from any cwd.
STEADFAST_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEADFAST_TOOLCHAIN="$STEADFAST_REPO/toolchain"
STEADFAST_CACHE="${STEADFAST_CACHE:-$HOME/.cache/steadfast}"
# The npm that runs on the emulated boards for the install proof: the registry's npm 10 (Debian's own
# npm package pulls in hundreds of node-* packages), pinned so every machine proves the same thing.
STEADFAST_BOARD_NPM=10.9.9

# The target arches, one line each, keyed by Node.js's name (process.arch), which
# is also the name in prebuilds/linux-<arch>/ and in the scripts' arguments.
#   deb      Debian's name for the arch (debootstrap --arch)
#   triplet  GNU triplet: the cross gcc/binutils prefix, and toolchain/<triplet>.cmake
#   elf      what `file` says about a binary for the arch (the prebuild check)
#   qemu     QEMU user-mode program, also the name of its binfmt_misc entry
#   cpu      QEMU_CPU. riscv64: Zbc and V on, so the ISA-specific CRC paths can run;
#            vext_spec is explicit because without it QEMU 7.2 warns on every start,
#            polluting the output of every program and test. arm64: `max`, which
#            has CRC32 and PMULL and reports them in HWCAP, so detection finds them;
#            pauth-impdef uses QEMU's cheap pointer-authentication hash instead of
#            the architected one (same instructions, same results for programs),
#            which halves Node.js start-up and the arm64 run (108 s -> 64 s).
#   glibc    the newest glibc symbol version the prebuild may need: trixie has 2.41;
#            2.39 also covers Ubuntu 24.04 and older distributions ("-": unchecked)
#   env      NAME=VALUE[,NAME=VALUE] for the vitest run under QEMU ("-": none).
#            riscv64 forces Zbc: QEMU 7.2 has no riscv_hwprobe to report it.
# x64 is the build host, never emulated: its line serves toolchain/prebuild only.
sf__targets='
# arch   deb      triplet            elf      qemu          cpu                                          glibc  env
x64      amd64    x86_64-linux-gnu   x86-64   -             -                                            -      -
riscv64  riscv64  riscv64-linux-gnu  RISC-V   qemu-riscv64  rv64,v=true,vext_spec=v1.0,vlen=256,zbc=true  2.39   STEADFAST_CRC=zbc
arm64    arm64    aarch64-linux-gnu  aarch64  qemu-aarch64  max,pauth-impdef=on                          2.39   -
'

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

# sf_target ARCH — selects ARCH's line of the table. Sets SF_TARGET_ARCH, _DEB,
# _TRIPLET, _ELF, _QEMU, _QEMU_CPU, _MAX_GLIBC, _ENV (an array of NAME=VALUE),
# _CMAKE_FILE, and for the QEMU root _ROOT, _ROOT_STAMP and _ROOT_RECIPE (all
# SF_TARGET_*; shell variables, never exported).
# Per-arch overrides: STEADFAST_<ARCH>_SYSROOT (where the root is, e.g.
# STEADFAST_RISCV64_SYSROOT) and STEADFAST_<ARCH>_QEMU_CPU.
sf_target() {
  local want="${1:-}" arch deb triplet elf qemu cpu glibc env var
  [ -n "$want" ] || sf_die "no target arch given (known: $(sf_target_names all))"
  while read -r arch deb triplet elf qemu cpu glibc env; do
    [ "$arch" = "$want" ] || continue
    SF_TARGET_ARCH="$arch"
    SF_TARGET_DEB="$deb"
    SF_TARGET_TRIPLET="$triplet"
    SF_TARGET_ELF="$elf"
    SF_TARGET_QEMU="${qemu#-}"
    SF_TARGET_MAX_GLIBC="${glibc#-}"
    SF_TARGET_CMAKE_FILE="$STEADFAST_TOOLCHAIN/$triplet.cmake"
    SF_TARGET_ENV=()
    [ "$env" = - ] || IFS=, read -r -a SF_TARGET_ENV <<<"$env"
    var="STEADFAST_${arch^^}_QEMU_CPU"
    SF_TARGET_QEMU_CPU="${!var:-${cpu#-}}"
    var="STEADFAST_${arch^^}_SYSROOT"
    SF_TARGET_ROOT="${!var:-$STEADFAST_CACHE/$arch-trixie}"
    # The stamp marks a root whose preparation finished; its content names the
    # recipe, so a root made by an older recipe is rebuilt rather than trusted.
    SF_TARGET_ROOT_STAMP="$SF_TARGET_ROOT/.steadfast-root-complete"
    SF_TARGET_ROOT_RECIPE="trixie $deb minbase nodejs npm@$STEADFAST_BOARD_NPM v1"
    return 0
  done <<<"$sf__targets"
  sf_die "unknown target arch '$want' (known: $(sf_target_names all))"
}

# sf_target_names all|emulated — the arches of the table (all, or those run under
# QEMU), on one line.
sf_target_names() {
  awk -v only="$1" '
    $1 == "" || $1 ~ /^#/ || (only == "emulated" && $5 == "-") { next }
    { printf "%s%s", sep, $1; sep = " " }
    END { print "" }' <<<"$sf__targets"
}

# sf_target_emulated — dies unless the selected target runs under QEMU here.
sf_target_emulated() {
  [ -n "$SF_TARGET_QEMU" ] || sf_die "$SF_TARGET_ARCH is not emulated (it is the build host's arch in the table)"
}

# sf_binfmt_ready — true when the kernel runs the target's ELF files through QEMU
# by itself (needed for chroot and for programs that start children of their arch).
sf_binfmt_ready() {
  [ -r "/proc/sys/fs/binfmt_misc/$SF_TARGET_QEMU" ] &&
    head -n 1 "/proc/sys/fs/binfmt_misc/$SF_TARGET_QEMU" | grep -qx enabled
}

sf_root_ready() {
  [ -f "$SF_TARGET_ROOT_STAMP" ] && [ "$(cat "$SF_TARGET_ROOT_STAMP")" = "$SF_TARGET_ROOT_RECIPE" ]
}
