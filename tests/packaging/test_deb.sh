#!/usr/bin/env bash
# test_deb.sh BUILD_DIR VERSION [CPACK] — builds the .deb from an already-built BUILD_DIR
# (cpack -G DEB into a temporary directory), unpacks it with dpkg-deb -x into a temporary root and
# checks what a user would get: Depends computed from the binaries (Qt Widgets, HDF5), the
# desktop file, icons and MIME types in place, `ckpt --version`, and a non-trivial screenshot from
# the unpacked ckpt-studio (offscreen). Validates the desktop file and the MIME package when
# desktop-file-validate / update-mime-database are installed.
set -euo pipefail
build=$(cd "$1" && pwd)
version=$2
cpack=${3:-cpack}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-deb-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }

"$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" > "$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB failed"; }
debs=("$tmp"/pkg/checkpoint-studio_"$version"_*.deb)
[ -f "${debs[0]}" ] || { ls -l "$tmp/pkg" >&2; fail "no checkpoint-studio_${version}_*.deb"; }
deb=${debs[0]}
echo "test_deb: built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

info=$(dpkg-deb -I "$deb")
depends=$(printf '%s\n' "$info" | sed -n 's/^ Depends: //p')
[ -n "$depends" ] || { printf '%s\n' "$info" >&2; fail "no Depends field"; }
for lib in libqt6widgets6 libhdf5; do
    [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
printf '%s\n' "$info" | grep -q '^ Package: checkpoint-studio$' || fail "package name"
printf '%s\n' "$info" | grep -q '^ Section: science$' || fail "section"
echo "test_deb: Depends: $depends"

root=$tmp/root
dpkg-deb -x "$deb" "$root"
for f in usr/bin/ckpt usr/bin/ckpt-studio \
         usr/share/applications/ckpt-studio.desktop \
         usr/share/mime/packages/ckpt-studio.xml \
         usr/share/icons/hicolor/scalable/apps/ckpt-studio.svg \
         usr/share/icons/hicolor/48x48/apps/ckpt-studio.png \
         usr/share/icons/hicolor/128x128/apps/ckpt-studio.png \
         usr/share/icons/hicolor/256x256/apps/ckpt-studio.png; do
    [ -e "$root/$f" ] || fail "missing /$f"
done

got=$("$root/usr/bin/ckpt" --version)
[ "$got" = "ckpt $version" ] || fail "ckpt --version printed '$got', expected 'ckpt $version'"
echo "test_deb: $got"

shot=$tmp/demo.png
# With settings of its own, not the user's (theme, window geometry).
XDG_CONFIG_HOME=$tmp/config QT_QPA_PLATFORM=offscreen \
    "$root/usr/bin/ckpt-studio" --demo --screenshot "$shot" ||
    fail "ckpt-studio --demo --screenshot exited $?"
size=$(stat -c %s "$shot" 2>/dev/null || echo 0)
[ "$size" -gt 10240 ] || fail "screenshot is $size bytes"
echo "test_deb: screenshot $size bytes"
# To look at it: CKPT_SCREENSHOT_DIR=/some/dir keeps a copy as deb-demo.png.
if [ -n "${CKPT_SCREENSHOT_DIR:-}" ]; then cp "$shot" "$CKPT_SCREENSHOT_DIR/deb-demo.png"; fi

desktop=$root/usr/share/applications/ckpt-studio.desktop
grep -q '^Exec=ckpt-studio %F$' "$desktop" || fail "Exec line"
if command -v desktop-file-validate > /dev/null; then
    desktop-file-validate "$desktop" || fail "desktop-file-validate"
    echo "test_deb: desktop file valid"
else
    echo "test_deb: desktop-file-validate not installed, skipped"
fi
# Every type the launcher claims is defined by freedesktop.org's database or by our package.
mimetypes=$(sed -n 's/^MimeType=//p' "$desktop" | tr ';' ' ')
for t in application/x-safetensors application/x-flax-msgpack application/x-orbax-metadata; do
    [[ " $mimetypes " == *" $t "* ]] || fail "desktop file does not list $t"
done
if command -v update-mime-database > /dev/null; then
    mkdir -p "$tmp/mime/packages"
    cp "$root/usr/share/mime/packages/ckpt-studio.xml" "$tmp/mime/packages/"
    # Run as if $tmp were a data directory, so that the only complaints are about our XML.
    XDG_DATA_DIRS=$tmp XDG_DATA_HOME=$tmp update-mime-database "$tmp/mime" 2> "$tmp/mime.log" || { cat "$tmp/mime.log" >&2; fail "update-mime-database"; }
    [ ! -s "$tmp/mime.log" ] || { cat "$tmp/mime.log" >&2; fail "update-mime-database warned"; }
    for glob in 'application/x-safetensors:\*\.safetensors' 'application/x-flax-msgpack:\*\.msgpack' \
                'application/x-orbax-metadata:_METADATA' 'application/x-orbax-metadata:_CHECKPOINT_METADATA'; do
        grep -q ":$glob\(:\|\$\)" "$tmp/mime/globs2" || fail "globs2 lacks $glob"
    done
    echo "test_deb: MIME package compiles"
fi
echo "test_deb: OK"
