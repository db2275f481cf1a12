#!/usr/bin/env bash
# Release artifacts: the octo-migrate binary for Linux and for Windows, in release mode, each
# zipped with the README and the licenses, and SHA-256 checksums of the zips.
#
#   scripts/release.sh [OUT_DIR]     (default: dist/)
#
# writes OUT_DIR/octo-migrate-<version>-x86_64-unknown-linux-gnu.zip,
#        OUT_DIR/octo-migrate-<version>-x86_64-pc-windows-gnu.zip and OUT_DIR/SHA256SUMS.
# Linux is built by the machine's toolchain (rustup's cargo, first on PATH); Windows as in
# scripts/windows.sh (Debian's Rust, -Zbuild-std, MinGW-w64), which also installs what it
# needs. The .exe is checked to need only DLLs that Windows itself has.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
out=${1:-dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "release: no version in Cargo.toml" >&2; exit 1; }
linux_triple=x86_64-unknown-linux-gnu
win_triple=x86_64-pc-windows-gnu

# Linux, by the machine's toolchain.
linux_target=${CARGO_TARGET_DIR:-$repo/target}
cargo build --release --locked -p octo-migrate-cli
linux_bin=$linux_target/release/octo-migrate

# Windows, in the environment scripts/windows.sh uses (its own target dir).
eval "$(scripts/windows.sh --env)"
/usr/bin/cargo build --release --locked --target "$win_triple" -Zbuild-std -p octo-migrate-cli
win_bin=$CARGO_TARGET_DIR/$win_triple/release/octo-migrate.exe

# The .exe must run on a plain Windows: no MinGW runtime DLL (libgcc_s, libwinpthread,
# libstdc++) may be needed beside it.
dlls=$(x86_64-w64-mingw32-objdump -p "$win_bin" | sed -n 's/^\s*DLL Name: //p' | sort -u)
foreign=$(echo "$dlls" | grep -viE '^(kernel32|kernelbase|advapi32|bcrypt|bcryptprimitives|crypt32|ntdll|ole32|oleaut32|secur32|shell32|user32|userenv|ws2_32|msvcrt|ucrtbase|api-ms-win-[a-z0-9-]+)\.dll$' || true)
if [ -n "$foreign" ]; then
  echo "release: octo-migrate.exe needs DLLs that Windows does not have: $foreign" >&2
  exit 1
fi

# One zip per platform: a folder octo-migrate-<version>-<triple>/ with the binary, README.md,
# LICENSE-MIT and LICENSE-APACHE.
package() {
  local triple=$1 bin=$2 name=octo-migrate-$version-$1
  python3 - "$out/$name.zip" "$name" "$bin" README.md LICENSE-MIT LICENSE-APACHE <<'EOF'
import os, sys, zipfile
zip_path, folder, binary, *docs = sys.argv[1:]
with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
    for path in [binary, *docs]:
        info = zipfile.ZipInfo(f"{folder}/{os.path.basename(path)}", (2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        mode = 0o755 if path == binary else 0o644
        info.external_attr = (0o100000 | mode) << 16
        with open(path, "rb") as f:
            z.writestr(info, f.read())
EOF
  echo "release: $out/$name.zip ($(du -h "$out/$name.zip" | cut -f1); binary $(du -h "$bin" | cut -f1))"
}
package "$linux_triple" "$linux_bin"
package "$win_triple" "$win_bin"

(cd "$out" && sha256sum "octo-migrate-$version-$linux_triple.zip" \
  "octo-migrate-$version-$win_triple.zip" >SHA256SUMS && sha256sum -c SHA256SUMS)
echo "release: $out/SHA256SUMS; the .exe imports: $(echo $dlls)"
