# ssh-add from this host, with its libraries and loader, so a step can talk to the agent it is
# given (busybox has no unix socket client). Only mounted into steps, never copied.
set -e
mkdir -p tools/lib
cp /usr/bin/ssh-add tools/
ldd /usr/bin/ssh-add | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
  cp -L "$lib" tools/lib/
done
cp -L "$(ldd /usr/bin/ssh-add | awk '/ld-linux/ { print $1 }')" tools/lib/ld.so
