set -e
mkdir -p t/pkg/bin t/pkg/empty
echo tool > t/pkg/bin/tool && chmod 0755 t/pkg/bin/tool
ln -s bin/tool t/pkg/tool-link
ln t/pkg/bin/tool t/pkg/hard-tool
tar --owner=42 --group=43 --mtime=2001-02-03 -C t -czf archive.tar.gz pkg
rm -rf t
