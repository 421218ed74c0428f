set -e
mkdir -p ctx/empty ctx/nested/empty2
echo f > ctx/nested/file
