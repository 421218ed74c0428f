# kiln's own image, built by kiln from this checkout: `scripts/build-kiln-image.sh`.
# Its entrypoint is `kiln executor` and it keeps kaniko's paths (/workspace, /kaniko/.docker), so a
# kaniko job switches by changing its image name. NODE_IMAGE is a Node 20 image (the test suite's
# is made from this machine's node binary); the sandbox's host tools are staged into
# .tmp/image-tools by scripts/stage-image-tools.sh.
ARG NODE_IMAGE=node:20
FROM ${NODE_IMAGE}
ARG TOOLS=.tmp/image-tools
COPY ${TOOLS}/ /
COPY package.json /kiln/package.json
# The CLI is one bundled file; only the native fs-xattr addon stays a package of its own.
COPY node_modules/fs-xattr /kiln/node_modules/fs-xattr
COPY dist/src/cli/kiln.mjs /kiln/dist/src/cli/kiln.mjs
RUN mkdir -p /workspace /kaniko/.docker /kaniko/cache \
 && ln -s /kiln/dist/src/cli/kiln.mjs /usr/local/bin/kiln \
 && chmod 0755 /kiln/dist/src/cli/kiln.mjs
ENV DOCKER_CONFIG=/kaniko/.docker KILN_CACHE_DIR=/kaniko/cache
WORKDIR /workspace
ENTRYPOINT ["/usr/local/bin/node", "/kiln/dist/src/cli/kiln.mjs", "executor"]
