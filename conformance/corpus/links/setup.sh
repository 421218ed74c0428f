set -e
echo target > target.txt
ln -s target.txt rel-link
ln -s /etc/passwd abs-link
ln -s nowhere dangling
ln target.txt hard.txt
mkdir -p dir && ln -s ../target.txt dir/up-link
ln -s dir dir-link
