#!/usr/bin/env bash
# Rebuilds NotoSansCJKkr-Regular-subset.otf, the font jaego embeds in its PDFs, from
# Debian's fonts-noto-cjk package. Needs apt-get (Debian) and Python 3.
#
# The subset keeps Hangul syllables and jamo, ASCII and Latin-1, Latin
# Extended-A, punctuation, the symbols Korean product names use (★ ♥ ㈜
# ㎖ ㎏ № ℃ ① …), CJK punctuation and full-width forms: what a label or a
# packing slip prints, at a tenth of the size of the Korean font. It drops
# hinting and the layout tables (jaego draws each character's own glyph and
# does no shaping, which precomposed Hangul does not need). Hanja are not
# kept; a character the font lacks prints as an empty box.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download fonts-noto-cjk
dpkg-deb -x fonts-noto-cjk_*.deb ex
python3 -m venv venv
venv/bin/pip install --quiet 'fonttools==4.*'
# Font 1 of the collection is "Noto Sans CJK KR".
venv/bin/python - <<'PY'
from fontTools.ttLib import TTCollection
TTCollection("ex/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").fonts[1].save("kr.otf")
PY
venv/bin/pyftsubset kr.otf \
  --unicodes="U+0020-007E,U+00A0-017F,U+2000-206F,U+20A9,U+20AC,U+2100-214F,U+2190-21FF,U+2460-24FF,U+25A0-25FF,U+2600-26FF,U+3000-303F,U+3131-318E,U+3200-32FF,U+3380-33FF,U+AC00-D7A3,U+FF01-FF5E,U+FFE0-FFE6" \
  --layout-features='' --no-hinting \
  --drop-tables+=GSUB,GPOS,GDEF,BASE,VORG,vhea,vmtx \
  --name-IDs='*' --name-languages='*' \
  --output-file="$here/NotoSansCJKkr-Regular-subset.otf"
ls -l "$here/NotoSansCJKkr-Regular-subset.otf"
