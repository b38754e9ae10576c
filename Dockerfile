# syntax=docker/dockerfile:1
# The writ broker (default target) and the example downstream service (target `downstream`).
# Multi-stage: build with dev dependencies, run with production ones only, as the unprivileged
# `node` user, on a root filesystem that can be mounted read-only. No secret is ever copied in:
# keys, the KEK and the admin token hash come from the environment or mounted files at run time.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY examples/downstream-service ./examples/downstream-service
# The example imports the verifier's source; compile both into example-dist/.
RUN npx tsc --outDir example-dist --rootDir . --module nodenext --moduleResolution nodenext \
      --target es2022 --skipLibCheck --strict examples/downstream-service/server.ts \
  && npm run build && npm prune --omit=dev

# The example downstream service: verifies writ tokens against the broker's JWKS and Redis.
FROM node:24-bookworm-slim AS downstream
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8081
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/example-dist ./example-dist
COPY package.json ./
USER node
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8081)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "example-dist/examples/downstream-service/server.js"]

# The broker (last stage: what `docker build .` produces).
FROM node:24-bookworm-slim AS broker
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json openapi.yaml ./
COPY examples/policy.yaml examples/manifest.yaml ./examples/
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
