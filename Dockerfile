# syntax=docker/dockerfile:1
# One image for every process of chat mesh: the mesh deployables and chatd. The process is chosen
# by the command, e.g. `node dist/cmd/session-service/main.js` (deploy/compose, deploy/k8s).
#   docker build -t chat-mesh:0.1.0 .
# Configuration is CHAT_ environment variables only (README.md, "Configuration").
ARG NODE_VERSION=20.20.2

# Build: full Debian image (make, and a C++ toolchain in case better-sqlite3 has no prebuilt binary).
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The stamp tells make that node_modules matches the lock file, so `make build` does not reinstall.
RUN touch node_modules/.installed \
 && make build \
 && npm prune --omit=dev --no-audit --no-fund

# Runtime: slim image, production dependencies and the compiled JavaScript only, non-root.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    CHAT_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The .proto sources: gRPC servers load them at startup (reflection, health), found above dist/.
COPY --from=build /src/proto ./proto
# Writable places for the non-root user: chatd's SQLite data dir and an optional trace file volume.
RUN mkdir -p /var/lib/chat/data /var/lib/chat/traces && chown -R node:node /var/lib/chat
ENV CHAT_DATA_DIR=/var/lib/chat/data
USER node
# HTTP (API, /ws, /healthz, /readyz, /metrics) and gRPC.
EXPOSE 8080 9090
CMD ["node", "dist/cmd/chatd/main.js"]
