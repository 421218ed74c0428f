set -e
mkdir -p ctx/dir
echo a > ctx/tagged
setfattr -n user.kiln -v conformance ctx/tagged
setfattr -n user.dir -v yes ctx/dir
