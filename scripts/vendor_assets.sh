#!/usr/bin/env bash
# Refresh book/_vendor/ from the npm registry: MathJax 3 and the ipywidgets
# html-manager, so that the built site needs no CDN. Run by hand when bumping a
# version; the result is committed, and nothing downloads at build or test time.
#
#   bash scripts/vendor_assets.sh
#
# _config.yml points `mathjax_path` and `nb_ipywidgets_js` at these copies; Sphinx
# copies book/_vendor/ into _build/html/_static/ (html_static_path).
set -euo pipefail
MATHJAX_VERSION=3.2.2
HTML_MANAGER_VERSION=1.0.15   # the html-manager that matches ipywidgets 8

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/book/_vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm pack --silent "mathjax@$MATHJAX_VERSION" "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION" >/dev/null
mkdir mathjax html-manager
tar xzf "mathjax-$MATHJAX_VERSION.tgz" -C mathjax
tar xzf "jupyter-widgets-html-manager-$HTML_MANAGER_VERSION.tgz" -C html-manager

rm -rf "$dest/mathjax" "$dest/html-manager"
mkdir -p "$dest/mathjax/output/chtml/fonts" "$dest/mathjax/input/tex" "$dest/html-manager"

# MathJax: the TeX -> CommonHTML combined component, its woff2 fonts, and the TeX
# extensions that \require or autoload may fetch (e.g. \boldsymbol, \cancel).
mj="mathjax/package/es5"
cp "$mj/tex-chtml.js" "$dest/mathjax/"
cp -r "$mj/output/chtml/fonts/woff-v2" "$dest/mathjax/output/chtml/fonts/"
cp -r "$mj/input/tex/extensions" "$dest/mathjax/input/tex/"
cp mathjax/package/LICENSE "$dest/mathjax/LICENSE"

# html-manager: the self-contained embed bundle (no require.js needed) and the icon
# fonts its CSS refers to; browsers pick woff2, then woff.
hm="html-manager/package"
cp "$hm/dist/embed.js" "$hm/dist/embed.js.LICENSE.txt" "$dest/html-manager/"
cp "$hm"/dist/*.woff2 "$hm"/dist/*.woff "$dest/html-manager/"
cat > "$dest/html-manager/LICENSE" <<'LIC'
@jupyter-widgets/html-manager is distributed under the BSD 3-Clause License,
Copyright (c) 2015 Project Jupyter Contributors. See package.json "license" at
https://www.npmjs.com/package/@jupyter-widgets/html-manager and embed.js.LICENSE.txt
for the licenses of the bundled packages.
LIC

cat > "$dest/VERSIONS" <<VER
mathjax $MATHJAX_VERSION
@jupyter-widgets/html-manager $HTML_MANAGER_VERSION
VER
du -sh "$dest"
