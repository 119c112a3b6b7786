# Baton: the orchestrator worker, the API, `baton setup` and agent workers, one image, chosen by the command.
# Build context: the repository root.
FROM node:20.19.5-bookworm-slim
# git: the agents' worktrees, commits and pushes; tini: signals reach baton (Ctrl-C / docker stop is clean).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --omit=dev
COPY tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY api ./api
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY mcp ./mcp
COPY temporal ./temporal
COPY agents ./agents
ENV BATON_HOME=/var/lib/baton NODE_ENV=production
RUN mkdir -p /var/lib/baton && chown node /var/lib/baton
USER node
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/baton.js"]
CMD ["--help"]
