# jitseg origin: Node 20 + Debian's ffmpeg + the Shaka Packager binary from npm.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY edge ./edge
ENV NODE_ENV=production \
    JITSEG_MEDIA_DIR=/media \
    JITSEG_CACHE_DIR=/cache \
    JITSEG_PORT=8080
VOLUME ["/media", "/cache"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node_modules/.bin/tsx", "src/main.ts"]
