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
COPY node_modules/commander /kiln/node_modules/commander
COPY node_modules/fs-xattr /kiln/node_modules/fs-xattr
COPY dist/src /kiln/dist/src
RUN mkdir -p /workspace /kaniko/.docker /kaniko/cache \
 && ln -s /kiln/dist/src/cli/kiln.mjs /usr/local/bin/kiln \
 && chmod 0755 /kiln/dist/src/cli/kiln.mjs
ENV DOCKER_CONFIG=/kaniko/.docker KILN_CACHE_DIR=/kaniko/cache
WORKDIR /workspace
ENTRYPOINT ["/usr/local/bin/node", "/kiln/dist/src/cli/kiln.mjs", "executor"]
