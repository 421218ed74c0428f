#!/bin/sh
# Renders pages/*.txt (first line: the title; then paragraphs separated by blank lines) into HTML
# between header.html and footer.html, then writes an index, a sitemap and a SHA-256 manifest.
set -eu
out=$1
mkdir -p "$out"

render() {
  title=$(head -n 1 "$1")
  sed "s|@TITLE@|$title|" header.html
  tail -n +2 "$1" | awk '
    /^$/ { if (open) { print "</p>"; open = 0 } next }
    { gsub(/&/, "\\&amp;"); gsub(/</, "\\&lt;"); if (!open) { printf "<p>"; open = 1 } print }
    END { if (open) print "</p>" }'
  cat footer.html
}

: > "$out/sitemap.txt"
links=""
for page in pages/*.txt; do
  name=$(basename "$page" .txt)
  render "$page" > "$out/$name.html"
  echo "/$name.html" >> "$out/sitemap.txt"
  links="$links<li><a href=\"$name.html\">$(head -n 1 "$page")</a></li>"
done

{
  sed "s|@TITLE@|Contents|" header.html
  echo "<ul>$links</ul>"
  cat footer.html
} > "$out/index.html"
echo "/index.html" >> "$out/sitemap.txt"

(cd "$out" && sha256sum -- *.html sitemap.txt > SHA256SUMS)
