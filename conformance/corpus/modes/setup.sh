set -e
mkdir -p ctx && cd ctx
echo s > suid && chmod 4755 suid
echo x > exec && chmod 0751 exec
echo r > readonly && chmod 0400 readonly
mkdir -p sticky && chmod 1777 sticky
mkdir -p private && chmod 0700 private && echo p > private/p
