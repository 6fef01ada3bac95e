# One image for the worker and the API; docker-compose.yml picks the command.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && node dist/bundle-workflows.js dist/workflow-bundle.js

FROM node:20-bookworm-slim
# NODE_OPTIONS: the same as DEPLOYED_NODE_OPTIONS in src/dev/node-options.ts (why is said there).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=1 \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
CMD ["node", "dist/worker.js"]
